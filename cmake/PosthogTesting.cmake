# posthog_add_test(<name> <source>... [LINK <target>...] [LABELS <label>...])
#
# One Catch2 test executable, registered test case by test case with CTest.
# Catch2 v2 is a single large header: its main() is compiled once, and the
# header is precompiled once and reused by every test target, which keeps the
# build reasonable on two cores. Used by tests/ and by each bundled plugin.
include(Catch)

add_library(posthog_catch_main OBJECT ${CMAKE_CURRENT_LIST_DIR}/../tests/support/catch_main.cpp)
target_link_libraries(posthog_catch_main PUBLIC Catch2::Catch2 posthog::plugin_sdk)
target_precompile_headers(posthog_catch_main PRIVATE <catch2/catch.hpp> <boost/json.hpp>)
# main() needs CATCH_CONFIG_MAIN before the header, so it cannot use the shared PCH itself.
set_source_files_properties(${CMAKE_CURRENT_LIST_DIR}/../tests/support/catch_main.cpp
  TARGET_DIRECTORY posthog_catch_main PROPERTIES SKIP_PRECOMPILE_HEADERS ON)

function(posthog_add_test name)
  cmake_parse_arguments(PARSE_ARGV 1 ARG "" "" "LINK;LABELS")
  add_executable(${name} ${ARG_UNPARSED_ARGUMENTS} $<TARGET_OBJECTS:posthog_catch_main>)
  target_link_libraries(${name} PRIVATE Catch2::Catch2 posthog::plugin_sdk ${ARG_LINK})
  target_precompile_headers(${name} REUSE_FROM posthog_catch_main)
  target_include_directories(${name} PRIVATE ${PROJECT_SOURCE_DIR}/tests/support)
  set(properties ENVIRONMENT "POSTHOG_BUILD_DIR=${PROJECT_BINARY_DIR};POSTHOG_SOURCE_DIR=${PROJECT_SOURCE_DIR}")
  if(ARG_LABELS)
    list(APPEND properties LABELS "${ARG_LABELS}")
  endif()
  catch_discover_tests(${name} PROPERTIES ${properties})
endfunction()
