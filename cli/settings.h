// The CLI's settings, resolved once in main with the precedence every TransferWatch program
// uses: command-line flag, then environment variable, then config file, then default.
#pragma once

#include <spdlog/common.h>

#include <functional>
#include <optional>
#include <string>
#include <vector>

#include "common/config.h"
#include "common/status.h"
#include "store/open_store.h"

namespace tw::cli {

// What the command line said (unset = not given).
struct GlobalFlags {
  std::optional<std::string> database_url;
  std::optional<std::string> state_dir;
  std::optional<std::string> config_path;
  std::optional<std::string> log_level;
};

struct CliSettings {
  DatabaseSettings database;
  spdlog::level::level_enum log_level = spdlog::level::warn;
  std::optional<std::string> config_path;  // the file that was read, if any
  double report_delta = 0.5;
};

// Keys of the CLI's TOML config file (shared with the daemon's where they mean the same thing).
const std::vector<ConfigKeySpec>& CliConfigKeys();

using GetEnv = std::function<std::optional<std::string>(const char*)>;

// Environment variables: TRANSFERWATCH_DATABASE_URL, TRANSFERWATCH_HOME (state directory),
// TRANSFERWATCH_CONFIG, TRANSFERWATCH_LOG_LEVEL, TRANSFERWATCH_EMBEDDED_USER.
// The config file is --config, else TRANSFERWATCH_CONFIG, else the first of
// $XDG_CONFIG_HOME/transferwatch/config.toml (~/.config/...) or /etc/transferwatch/config.toml
// that exists. A file named explicitly must exist.
StatusOr<CliSettings> ResolveSettings(const GlobalFlags& flags, const GetEnv& getenv, bool is_root);

}  // namespace tw::cli
