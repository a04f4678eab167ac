# Runs `posthog-plugin-server new NAME DIR` into a folder emptied first, and
# fails unless it exits 0 and wrote the files a plugin project needs.
#
#   cmake -DSERVER=<binary> -DNAME=<plugin> -DDIR=<folder> -P new_plugin_project.cmake
file(REMOVE_RECURSE ${DIR})
execute_process(COMMAND ${SERVER} new ${NAME} ${DIR} RESULT_VARIABLE result OUTPUT_VARIABLE output ERROR_VARIABLE errors)
if(NOT result EQUAL 0)
  message(FATAL_ERROR "posthog-plugin-server new ${NAME} ${DIR} exited ${result}: ${errors}")
endif()
foreach(file CMakeLists.txt plugin.json README.md server.json)
  if(NOT EXISTS ${DIR}/${file})
    message(FATAL_ERROR "posthog-plugin-server new wrote no ${file}; it said: ${output}")
  endif()
endforeach()
message(STATUS "${output}")
