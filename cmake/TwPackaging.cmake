# Installation and the Debian package (docs/packaging.md).
#
# `cmake --install` (component "Unspecified") puts the programs, the shipped data and the
# documentation under CMAKE_INSTALL_PREFIX. The files that only make sense system-wide (the
# systemd unit, /etc/transferwatch/daemon.toml) are the EXCLUDE_FROM_ALL component "system", so
# that `sudo cmake --install build` never overwrites an administrator's config; the package
# contains both.
#
# `cpack` (scripts/package, or in any configured build tree) makes
# transferwatch_<version>_<arch>.deb with prefix /usr whatever prefix the tree was configured
# with: the programs find their data beside them (datasets::DataDir) and the evaluator beside
# themselves, so no path compiled in from the configure step is used by an installed program.
include(GNUInstallDirs)

set(TW_PROGRAMS transferwatch transferwatchd)
if(TW_WITH_TORCH)
  list(APPEND TW_PROGRAMS transferwatch-eval)
endif()
install(TARGETS ${TW_PROGRAMS} RUNTIME DESTINATION ${CMAKE_INSTALL_BINDIR})

# The data the programs read at run time: class lists, subsets, ReaL labels and the AlexNet
# table for mCE (presets, corruption suites), and timm's published results for `import timm`.
install(DIRECTORY data/imagenet data/timm-results
        DESTINATION ${CMAKE_INSTALL_DATADIR}/transferwatch)
install(FILES data/README.md DESTINATION ${CMAKE_INSTALL_DATADIR}/transferwatch)

# Documentation: the docs (the unit's Documentation= names daemon.md), the schemas they cite and
# each program's --help, generated from the built programs so they cannot drift apart.
set(TW_DOC_DIR ${CMAKE_INSTALL_DOCDIR})  # share/doc/transferwatch (the project's name)
install(FILES README.md ARCHITECTURE.md DESTINATION ${TW_DOC_DIR})
install(DIRECTORY docs/ DESTINATION ${TW_DOC_DIR} FILES_MATCHING PATTERN "*.md")
install(FILES schemas/daemon-config.schema.json schemas/webhook-event.schema.json
              schemas/evaluator-protocol.md
        DESTINATION ${TW_DOC_DIR}/schemas)

set(TW_HELP_DIR ${PROJECT_BINARY_DIR}/help)
set(TW_HELP_TEXTS)
set(TW_HELP_PROGRAMS)
foreach(program ${TW_PROGRAMS})
  list(APPEND TW_HELP_TEXTS ${TW_HELP_DIR}/${program}.txt)
  list(APPEND TW_HELP_PROGRAMS $<TARGET_FILE:${program}>)
endforeach()
add_custom_command(
  OUTPUT ${TW_HELP_TEXTS}
  COMMAND ${PROJECT_SOURCE_DIR}/cmake/help-texts.sh ${TW_HELP_DIR} ${TW_HELP_PROGRAMS}
  DEPENDS ${TW_PROGRAMS} ${PROJECT_SOURCE_DIR}/cmake/help-texts.sh
  COMMENT "Writing the programs' --help texts"
  VERBATIM)
add_custom_target(tw_help_texts ALL DEPENDS ${TW_HELP_TEXTS})
install(FILES ${TW_HELP_TEXTS} DESTINATION ${TW_DOC_DIR})

# System files, absolute paths (component "system", package only). Debian 12 keeps units in
# /lib/systemd/system.
install(FILES deploy/systemd/transferwatchd.service DESTINATION /lib/systemd/system
        COMPONENT system EXCLUDE_FROM_ALL)
install(FILES deploy/daemon.toml DESTINATION /etc/transferwatch COMPONENT system EXCLUDE_FROM_ALL)

# The Debian package.
set(CPACK_GENERATOR DEB)
set(CPACK_PACKAGE_NAME transferwatch)
set(CPACK_PACKAGE_VERSION ${PROJECT_VERSION})
set(CPACK_PACKAGE_VENDOR "TransferWatch")
set(CPACK_PACKAGE_CONTACT "TransferWatch maintainers <maintainers@transferwatch.dev>")
set(CPACK_PACKAGE_DESCRIPTION_SUMMARY
    "evaluates every new checkpoint on every dataset and flags gains that do not transfer")
set(CPACK_DEBIAN_PACKAGE_DESCRIPTION
    "A daemon watches folders of image-classification checkpoints, evaluates each one on every
registered dataset (ImageNet val, -ReaL, -V2, -Sketch, -A, -R, -C or a team's own),
records hashed configs and results in PostgreSQL and flags the cases where an ImageNet
gain fails to transfer, with paired statistical tests and chat alerts.
.
Programs: transferwatchd (the daemon, a systemd service), transferwatch (the CLI) and
transferwatch-eval (the LibTorch evaluator the other two run as a child process).")
set(CPACK_DEBIAN_FILE_NAME DEB-DEFAULT)  # transferwatch_<version>_<arch>.deb
set(CPACK_DEBIAN_PACKAGE_SECTION science)
set(CPACK_DEBIAN_PACKAGE_PRIORITY optional)
# Both components, from what the tree has built (cmake/TwCPackInstall.cmake): cpack's own
# install step would build `all` first. DESTDIR staging, so that the absolute /etc and /lib
# destinations land in the package, not on this machine.
set(CPACK_INSTALL_CMAKE_PROJECTS "")
set(CPACK_INSTALL_SCRIPTS ${PROJECT_SOURCE_DIR}/cmake/TwCPackInstall.cmake)
set(CPACK_TW_BUILD_DIR ${PROJECT_BINARY_DIR})
set(CPACK_SET_DESTDIR ON)
set(CPACK_PACKAGING_INSTALL_PREFIX /usr)
# Library packages found by dpkg-shlibdeps from the binaries' NEEDED entries (libpqxx-6.4,
# libtorch1.13, ...), never -dev packages; adduser for the postinst. PostgreSQL is recommended,
# not required: only the embedded default needs its server binaries, and workers that share a
# PostgreSQL server (database.url) install without it. OpenBLAS makes the evaluator's dense
# layers 10-20x faster than the reference BLAS libtorch would otherwise get.
set(CPACK_DEBIAN_PACKAGE_SHLIBDEPS ON)
set(CPACK_DEBIAN_PACKAGE_DEPENDS "adduser")
set(CPACK_DEBIAN_PACKAGE_RECOMMENDS "postgresql, libopenblas0-pthread")
set(CPACK_DEBIAN_COMPRESSION_TYPE xz)
set(CPACK_THREADS 0)
set(CPACK_DEBIAN_PACKAGE_CONTROL_EXTRA
    ${PROJECT_SOURCE_DIR}/deploy/debian/conffiles ${PROJECT_SOURCE_DIR}/deploy/debian/postinst
    ${PROJECT_SOURCE_DIR}/deploy/debian/prerm ${PROJECT_SOURCE_DIR}/deploy/debian/postrm)
set(CPACK_DEBIAN_PACKAGE_CONTROL_STRICT_PERMISSION ON)

include(CPack)
