# Declarative per-folder targets, after Abseil's absl_cc_library / absl_cc_test.
#
# tw_cc_library(NAME store SRCS a.cc b.cc DEPS tw::common PRIVATE_DEPS dep::pqxx)
#   builds tw_store with the alias tw::store. Sources are listed explicitly: adding a file is a
#   reviewed change.
function(tw_cc_library)
  cmake_parse_arguments(TW "" "NAME" "SRCS;DEPS;PRIVATE_DEPS" ${ARGN})
  set(target tw_${TW_NAME})
  add_library(${target} STATIC ${TW_SRCS})
  add_library(tw::${TW_NAME} ALIAS ${target})
  target_include_directories(${target} PUBLIC ${PROJECT_SOURCE_DIR})
  target_link_libraries(${target} PUBLIC ${TW_DEPS} PRIVATE ${TW_PRIVATE_DEPS} tw_settings tw_warnings)
endfunction()

# tw_cc_binary(NAME transferwatch SRCS main.cc DEPS tw::cli)
function(tw_cc_binary)
  cmake_parse_arguments(TW "" "NAME" "SRCS;DEPS" ${ARGN})
  add_executable(${TW_NAME} ${TW_SRCS})
  target_link_libraries(${TW_NAME} PRIVATE ${TW_DEPS} tw_settings tw_warnings)
  set_target_properties(${TW_NAME} PROPERTIES RUNTIME_OUTPUT_DIRECTORY ${PROJECT_BINARY_DIR}/bin)
endfunction()

# tw_cc_test(NAME common_unit_test SRCS ... DEPS ... LABELS unit [TIMEOUT 120])
#   one gtest executable; every TEST becomes its own ctest case carrying the labels.
function(tw_cc_test)
  cmake_parse_arguments(TW "" "NAME;TIMEOUT" "SRCS;DEPS;LABELS;ENV" ${ARGN})
  if(NOT TW_TIMEOUT)
    set(TW_TIMEOUT 120)
  endif()
  add_executable(${TW_NAME} ${TW_SRCS})
  target_link_libraries(${TW_NAME} PRIVATE ${TW_DEPS} tw_settings tw_warnings
                        GTest::gmock GTest::gtest_main Threads::Threads)
  target_include_directories(${TW_NAME} PRIVATE ${PROJECT_SOURCE_DIR})
  gtest_discover_tests(${TW_NAME}
    DISCOVERY_TIMEOUT 60
    PROPERTIES LABELS "${TW_LABELS}" TIMEOUT ${TW_TIMEOUT} ENVIRONMENT "${TW_ENV}")
endfunction()
