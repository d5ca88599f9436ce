# Compiler settings shared by every target, as INTERFACE targets linked PRIVATE (never global
# CMAKE_CXX_FLAGS), after ccache's standard_settings / standard_warnings.
add_library(tw_settings INTERFACE)
target_compile_features(tw_settings INTERFACE cxx_std_17)
set(CMAKE_CXX_EXTENSIONS OFF)
# Version of the code, recorded in provenance and printed by --version.
execute_process(
  COMMAND git describe --always --dirty --tags
  WORKING_DIRECTORY ${CMAKE_CURRENT_SOURCE_DIR}
  OUTPUT_VARIABLE TW_GIT_DESCRIBE
  OUTPUT_STRIP_TRAILING_WHITESPACE ERROR_QUIET)
if(NOT TW_GIT_DESCRIBE)
  set(TW_GIT_DESCRIBE "unknown")
endif()

add_library(tw_warnings INTERFACE)
target_compile_options(tw_warnings INTERFACE
  -Wall -Wextra -Wshadow -Wnon-virtual-dtor -Wimplicit-fallthrough -Wpedantic)
if(TW_WERROR)
  target_compile_options(tw_warnings INTERFACE -Werror)
endif()
