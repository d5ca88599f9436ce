# The fuzz targets as tests of the main build (label `fuzz`), included from tests/CMakeLists.txt.
# fuzz_build configures and builds fuzz/ with clang-14 in <build>/fuzz (scripts/fuzz installs
# clang-14 when missing; the main build itself never needs it); then every target runs 5 seconds
# on its seed corpus. A crash, leak, timeout or sanitizer report fails the test and prints the
# reproducer's path.
file(GLOB TW_FUZZ_SOURCES CONFIGURE_DEPENDS ${PROJECT_SOURCE_DIR}/fuzz/*_fuzzer.cc)
set(TW_FUZZ_ENV "TW_FUZZ_BUILD_DIR=${PROJECT_BINARY_DIR}/fuzz")
add_test(NAME fuzz_build COMMAND ${PROJECT_SOURCE_DIR}/scripts/fuzz --build-only)
set_tests_properties(fuzz_build PROPERTIES LABELS fuzz TIMEOUT 1200 FIXTURES_SETUP tw_fuzz_build
                     ENVIRONMENT "${TW_FUZZ_ENV}")
foreach(source ${TW_FUZZ_SOURCES})
  get_filename_component(name ${source} NAME_WE)
  string(REGEX REPLACE "_fuzzer$" "" name ${name})
  add_test(NAME fuzz_${name} COMMAND ${PROJECT_SOURCE_DIR}/scripts/fuzz --seconds 5 ${name})
  set_tests_properties(fuzz_${name} PROPERTIES LABELS fuzz TIMEOUT 120
                       FIXTURES_REQUIRED tw_fuzz_build ENVIRONMENT "${TW_FUZZ_ENV}")
endforeach()
