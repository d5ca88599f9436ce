// Where tests find the built programs and the repository's data (set by tests/CMakeLists.txt).
#pragma once

namespace tw::testing {

inline const char* CliPath() { return TW_CLI_PATH; }
inline const char* TimmResultsDir() { return TW_DATA_DIR "/timm-results"; }
inline const char* ImagenetDataDir() { return TW_DATA_DIR "/imagenet"; }

}  // namespace tw::testing
