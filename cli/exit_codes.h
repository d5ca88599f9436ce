// The CLI's exit codes (documented in the README and --help).
#pragma once

#include "common/status.h"

namespace tw::cli {

constexpr int kExitOk = 0;
constexpr int kExitFailed = 1;
constexpr int kExitUsage = 2;        // usage error or invalid argument
constexpr int kExitNotFound = 3;     // a named thing does not exist
constexpr int kExitUnavailable = 4;  // the database cannot be reached

inline int ExitCodeFor(const Status& status) {
  switch (status.code()) {
    case StatusCode::kOk:
      return kExitOk;
    case StatusCode::kInvalidArgument:
      return kExitUsage;
    case StatusCode::kNotFound:
      return kExitNotFound;
    case StatusCode::kUnavailable:
      return kExitUnavailable;
    default:
      return kExitFailed;
  }
}

}  // namespace tw::cli
