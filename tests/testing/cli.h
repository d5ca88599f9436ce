// Running the real `transferwatch` program from tests, with none of the developer's settings
// (TRANSFERWATCH_* variables, ~/.config) leaking in.
#pragma once

#include <nlohmann/json.hpp>
#include <optional>
#include <string>
#include <vector>

#include "common/process.h"

namespace tw::testing {

struct CliCall {
  std::vector<std::string> args;
  std::vector<std::string> env;        // extra "KEY=value" entries
  std::optional<UserIdentity> run_as;  // another user (root tests)
  std::string program;                 // default: CliPath()
};

// Runs it to completion (64 MiB of output kept); records a test failure if it cannot start.
ProcessResult RunCli(const CliCall& call);
inline ProcessResult RunCli(std::vector<std::string> args) {
  return RunCli(CliCall{args, {}, {}, ""});
}

// Runs it with "--format json" appended, expects exit 0 and returns the parsed output (a
// discarded value, after a test failure, otherwise).
nlohmann::json RunCliJson(std::vector<std::string> args);

}  // namespace tw::testing
