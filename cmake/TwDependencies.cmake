# Every third-party dependency is found here, once, and wrapped as a `dep::` target. No other
# CMake file calls find_package or pkg_check_modules. How each one is discovered on Debian 12 is
# measured in ../shared/research/platform-notes.md.
find_package(PkgConfig REQUIRED)
find_package(Threads REQUIRED)

# libpqxx 6.4 ships no CMake config: pkg-config only. Only store/ links it.
pkg_check_modules(PQXX REQUIRED IMPORTED_TARGET libpqxx)
add_library(dep::pqxx ALIAS PkgConfig::PQXX)
# libpq itself, for PQconninfoParse (store/pg_backup.cc hands connection settings to pg_dump).
pkg_check_modules(PQ REQUIRED IMPORTED_TARGET libpq)
add_library(dep::pq ALIAS PkgConfig::PQ)

find_package(OpenSSL REQUIRED)
add_library(dep::crypto INTERFACE IMPORTED)
target_link_libraries(dep::crypto INTERFACE OpenSSL::Crypto)

find_package(nlohmann_json 3.10 REQUIRED)
add_library(dep::json INTERFACE IMPORTED)
target_link_libraries(dep::json INTERFACE nlohmann_json::nlohmann_json)

find_package(spdlog REQUIRED)
add_library(dep::spdlog INTERFACE IMPORTED)
target_link_libraries(dep::spdlog INTERFACE spdlog::spdlog)

# toml++ on Debian is a compiled library; its defines (TOML_HEADER_ONLY=0) come from the .pc.
pkg_check_modules(TOMLPP REQUIRED IMPORTED_TARGET tomlplusplus)
add_library(dep::toml ALIAS PkgConfig::TOMLPP)

find_package(CLI11 REQUIRED)
add_library(dep::cli11 INTERFACE IMPORTED)
target_link_libraries(dep::cli11 INTERFACE CLI11::CLI11)

# The daemon's libraries. Boost.Asio is header-only (Boost.System too since 1.69; asking for the
# component fails without libboost-system-dev, so it is not asked for).
find_package(Boost 1.74 REQUIRED)
add_library(dep::asio INTERFACE IMPORTED)
target_link_libraries(dep::asio INTERFACE Boost::headers Threads::Threads)
# cpp-httplib 0.11 is a compiled library whose defines change its class layout: always take them
# from pkg-config (platform-notes.md).
pkg_check_modules(HTTPLIB REQUIRED IMPORTED_TARGET cpp-httplib)
add_library(dep::httplib ALIAS PkgConfig::HTTPLIB)
# libzip reads a checkpoint's central directory (is the archive complete?) without loading it.
pkg_check_modules(LIBZIP REQUIRED IMPORTED_TARGET libzip)
add_library(dep::zip ALIAS PkgConfig::LIBZIP)
# sd_notify for Type=notify, the watchdog and STOPPING.
pkg_check_modules(SYSTEMD REQUIRED IMPORTED_TARGET libsystemd)
add_library(dep::systemd ALIAS PkgConfig::SYSTEMD)

if(TW_BUILD_TESTS OR TW_BUILD_BENCH)
  find_package(GTest REQUIRED)
  include(GoogleTest)
endif()

# Image decoding (imaging/): libjpeg-turbo's TurboJPEG API and libpng, both from pkg-config.
pkg_check_modules(TURBOJPEG REQUIRED IMPORTED_TARGET libturbojpeg)
add_library(dep::turbojpeg ALIAS PkgConfig::TURBOJPEG)
pkg_check_modules(PNG REQUIRED IMPORTED_TARGET libpng)
add_library(dep::png ALIAS PkgConfig::PNG)

# LibTorch: only eval/ and the programs built from it (transferwatch-eval, tools) link it.
# Debian's libtorch-dev (CPU) is found without hints; another build (CUDA, for GPU workers) is
# chosen with -DTorch_DIR=/path/to/libtorch/share/cmake/Torch.
if(TW_WITH_TORCH)
  find_package(Torch REQUIRED)
  set(TW_TORCH_VERSION "${Torch_VERSION}")
  add_library(dep::torch INTERFACE IMPORTED)
  target_link_libraries(dep::torch INTERFACE ${TORCH_LIBRARIES})
  separate_arguments(TW_TORCH_CXX_FLAGS UNIX_COMMAND "${TORCH_CXX_FLAGS}")
  target_compile_options(dep::torch INTERFACE ${TW_TORCH_CXX_FLAGS})
endif()
