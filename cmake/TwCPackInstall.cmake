# Run by cpack (CPACK_INSTALL_SCRIPTS) in place of its default install step, which would first
# build the tree's `all` target (tests and benchmarks included): this installs what the tree has
# built, both components, stripped. A program that was not built fails the install by name.
set(CMAKE_INSTALL_PREFIX ${CPACK_PACKAGING_INSTALL_PREFIX})  # staged under DESTDIR
set(CMAKE_INSTALL_DO_STRIP 1)
foreach(CMAKE_INSTALL_COMPONENT Unspecified system)
  include(${CPACK_TW_BUILD_DIR}/cmake_install.cmake)
endforeach()
