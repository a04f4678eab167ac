# posthog_add_test(<name> <source>... [LINK <target>...] [LABELS <label>...])
#
# One Catch2 test executable, registered test case by test case with CTest.
# Catch2 v2 is a single large header: its main() (the implementation) is
# compiled once and shared by every test target. (A shared precompiled header
# via REUSE_FROM fails to generate on a fresh build tree with CMake 3.25 when
# the targets live in different directories, so there is none.)
include(Catch)

add_library(posthog_catch_main OBJECT ${CMAKE_CURRENT_LIST_DIR}/../tests/support/catch_main.cpp)
target_link_libraries(posthog_catch_main PUBLIC Catch2::Catch2 posthog::plugin_sdk)

function(posthog_add_test name)
  cmake_parse_arguments(PARSE_ARGV 1 ARG "" "" "LINK;LABELS")
  add_executable(${name} ${ARG_UNPARSED_ARGUMENTS} $<TARGET_OBJECTS:posthog_catch_main>)
  target_link_libraries(${name} PRIVATE Catch2::Catch2 posthog::plugin_sdk ${ARG_LINK})
  target_include_directories(${name} PRIVATE ${PROJECT_SOURCE_DIR}/tests/support)
  set(properties ENVIRONMENT "POSTHOG_BUILD_DIR=${PROJECT_BINARY_DIR};POSTHOG_SOURCE_DIR=${PROJECT_SOURCE_DIR}")
  if(ARG_LABELS)
    list(APPEND properties LABELS "${ARG_LABELS}")
  endif()
  catch_discover_tests(${name} PROPERTIES ${properties})
endfunction()
