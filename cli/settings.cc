#include "cli/settings.h"

#include "common/file_util.h"
#include "common/logging.h"

namespace tw::cli {

const std::vector<ConfigKeySpec>& CliConfigKeys() {
  static const std::vector<ConfigKeySpec> kKeys = {
      {"state_dir", ConfigType::kString,
       "State directory: the embedded database and daemon state (default "
       "~/.local/share/transferwatch, /var/lib/transferwatch for root)"},
      {"database.url", ConfigType::kString,
       "PostgreSQL 13+ URL or conninfo; empty or absent = the embedded database"},
      {"database.embedded_user", ConfigType::kString,
       "When run as root: the unprivileged user the embedded PostgreSQL runs as"},
      {"log.level", ConfigType::kString, "trace, debug, info, warn, error, critical or off"},
      {"report.delta", ConfigType::kFloat,
       "Default --delta of `report`: minimum reference gap of a pair, in points"},
  };
  return kKeys;
}

namespace {

std::optional<std::string> NonEmpty(std::optional<std::string> value) {
  if (value && value->empty()) return std::nullopt;
  return value;
}

// The first of flag, environment, config file; nullopt when none says anything.
std::optional<std::string> Pick(const std::optional<std::string>& flag, const GetEnv& getenv,
                                const char* env_name, const std::optional<ConfigDoc>& config,
                                const char* key) {
  if (flag) return flag;
  if (auto env = NonEmpty(getenv(env_name))) return env;
  if (config) return config->GetString(key);
  return std::nullopt;
}

}  // namespace

StatusOr<CliSettings> ResolveSettings(const GlobalFlags& flags, const GetEnv& getenv,
                                      bool is_root) {
  CliSettings settings;
  std::optional<ConfigDoc> config;
  std::optional<std::string> config_path = flags.config_path;
  if (!config_path) config_path = NonEmpty(getenv("TRANSFERWATCH_CONFIG"));
  if (config_path) {
    TW_ASSIGN_OR_RETURN(config, LoadConfigFile(*config_path, CliConfigKeys()));
  } else {
    std::vector<std::string> candidates;
    if (auto xdg = NonEmpty(getenv("XDG_CONFIG_HOME"))) {
      candidates.push_back(*xdg + "/transferwatch/config.toml");
    } else if (auto home = NonEmpty(getenv("HOME"))) {
      candidates.push_back(*home + "/.config/transferwatch/config.toml");
    }
    candidates.push_back("/etc/transferwatch/config.toml");
    for (const auto& candidate : candidates) {
      if (PathExists(candidate)) {
        TW_ASSIGN_OR_RETURN(config, LoadConfigFile(candidate, CliConfigKeys()));
        config_path = candidate;
        break;
      }
    }
  }
  settings.config_path = config_path;

  settings.database.url = NonEmpty(
      Pick(flags.database_url, getenv, "TRANSFERWATCH_DATABASE_URL", config, "database.url"));
  auto state_dir =
      NonEmpty(Pick(flags.state_dir, getenv, "TRANSFERWATCH_HOME", config, "state_dir"));
  settings.database.state_dir = state_dir.value_or(DefaultStateDir(getenv, is_root));
  if (settings.database.state_dir[0] != '/') {
    if (state_dir && !flags.state_dir && !NonEmpty(getenv("TRANSFERWATCH_HOME")) && config) {
      return config->ErrorAt("state_dir", "must be an absolute path");
    }
    return InvalidArgumentError("the state directory must be an absolute path, not \"" +
                                settings.database.state_dir + "\"");
  }
  while (settings.database.state_dir.size() > 1 && settings.database.state_dir.back() == '/') {
    settings.database.state_dir.pop_back();
  }
  settings.database.embedded_user = NonEmpty(
      Pick(std::nullopt, getenv, "TRANSFERWATCH_EMBEDDED_USER", config, "database.embedded_user"));

  if (auto level = Pick(flags.log_level, getenv, "TRANSFERWATCH_LOG_LEVEL", config, "log.level")) {
    auto parsed = ParseLogLevel(*level);
    if (!parsed.ok()) {
      if (!flags.log_level && !NonEmpty(getenv("TRANSFERWATCH_LOG_LEVEL")) && config) {
        return config->ErrorAt("log.level", parsed.status().message());
      }
      return parsed.status();
    }
    settings.log_level = *parsed;
  }
  if (config) {
    if (auto delta = config->GetFloat("report.delta")) {
      if (!(*delta >= 0) || *delta > 100) {
        return config->ErrorAt("report.delta", "must be between 0 and 100 points");
      }
      settings.report_delta = *delta;
    }
  }
  return settings;
}

}  // namespace tw::cli
