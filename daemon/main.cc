// transferwatchd: resolves settings (flags, environment, config file, defaults), opens the real
// store (embedded cluster or URL), builds the real clock, listener and notifier, runs the daemon.
#include <systemd/sd-daemon.h>
#include <unistd.h>

#include <CLI/CLI.hpp>
#include <climits>
#include <cstdlib>
#include <filesystem>
#include <iostream>

#include "api/http_server.h"
#include "common/clock.h"
#include "common/logging.h"
#include "common/process.h"
#include "common/version.h"
#include "daemon/config.h"
#include "daemon/daemon.h"
#include "store/migrations.h"
#include "store/open_store.h"
#include "store/pg_listener.h"

namespace {

std::optional<std::string> Env(const char* name) {
  const char* value = std::getenv(name);
  if (value == nullptr || *value == '\0') return std::nullopt;
  return std::string(value);
}

std::string EvaluatorBesideUs() {
  if (auto env = Env("TRANSFERWATCH_EVAL")) return *env;
  char self[4096];
  ssize_t n = ::readlink("/proc/self/exe", self, sizeof(self) - 1);
  if (n > 0) {
    self[n] = '\0';
    std::string dir = std::string(self).substr(0, std::string(self).rfind('/'));
    if (::access((dir + "/transferwatch-eval").c_str(), X_OK) == 0) {
      return dir + "/transferwatch-eval";
    }
  }
  return "transferwatch-eval";
}

int Fail(const tw::Status& status) {
  std::cerr << "transferwatchd: " << status.message() << "\n";
  switch (status.code()) {
    case tw::StatusCode::kInvalidArgument:
      return 2;
    case tw::StatusCode::kNotFound:
      return 3;
    case tw::StatusCode::kUnavailable:
      return 4;
    default:
      return 1;
  }
}

tw::Status Main(int argc, char** argv) {
  CLI::App app{"transferwatchd: evaluates every new checkpoint on every registered dataset"};
  app.name("transferwatchd");  // not argv[0]: the help reads the same wherever it is installed
  std::optional<std::string> config_path, database_url, state_dir, log_level, evaluator;
  std::vector<std::string> watch;
  std::optional<int> api_port, slots;
  app.add_option("--config", config_path, "TOML config file (env TRANSFERWATCH_DAEMON_CONFIG)");
  app.add_option("--watch", watch, "folder to watch (repeatable; adds to watch.roots)");
  app.add_option("--database", database_url,
                 "PostgreSQL URL (env TRANSFERWATCH_DATABASE_URL); none: embedded");
  app.add_option("--state-dir", state_dir, "state directory (env TRANSFERWATCH_HOME)");
  app.add_option("--log-level", log_level, "trace|debug|info|warn|error|off");
  app.add_option("--evaluator", evaluator, "transferwatch-eval to run");
  app.add_option("--api-port", api_port, "HTTP port (0: any free port)");
  app.add_option("--slots", slots, "evaluations run at once");
  bool check_config = false;
  app.add_flag("--check-config", check_config,
               "check the config file and flags (and read api.token_file), print the result, "
               "exit; starts nothing");
  app.set_version_flag(
      "--version", std::string("transferwatchd ") + tw::kVersion + " (" + tw::kGitDescribe + ")");
  try {
    app.parse(argc, argv);
  } catch (const CLI::CallForHelp& e) {
    std::cout << app.help();
    std::exit(0);
  } catch (const CLI::CallForVersion& e) {
    std::cout << e.what() << "\n";
    std::exit(0);
  } catch (const CLI::ParseError& e) {
    return tw::InvalidArgumentError(e.what());
  }
  if (!config_path) config_path = Env("TRANSFERWATCH_DAEMON_CONFIG");

  tw::daemon::DaemonConfig config;
  if (config_path) {
    TW_ASSIGN_OR_RETURN(config, tw::daemon::LoadDaemonConfig(*config_path));
  }
  std::vector<std::string> command_line_roots;
  for (const auto& dir : watch) {
    char resolved[PATH_MAX];
    if (::realpath(dir.c_str(), resolved) == nullptr) {
      return tw::NotFoundError("--watch " + dir + ": no such folder");
    }
    config.watch_roots.push_back(resolved);
    command_line_roots.push_back(resolved);
  }
  if (api_port) {
    if (*api_port < 0 || *api_port > 65535) {
      return tw::InvalidArgumentError("--api-port must be between 0 and 65535");
    }
    config.api_port = *api_port;
  }
  if (slots) {
    if (*slots < 0 || *slots > 256) return tw::InvalidArgumentError("--slots must be 0..256");
    config.slots = *slots;
  }
  TW_RETURN_IF_ERROR(tw::daemon::ValidateDaemonConfig(config));

  std::string level_text = log_level.value_or(
      Env("TRANSFERWATCH_LOG_LEVEL").value_or(config.log_level.value_or("info")));
  TW_ASSIGN_OR_RETURN(auto level, tw::ParseLogLevel(level_text));
  if (check_config) {
    // What a start would refuse before touching the database: the HTTP API's token rules. A
    // check before `systemctl restart` keeps a typo from stopping a running daemon.
    if (config.api_enabled && config.api_token_file) {
      TW_RETURN_IF_ERROR(tw::api::ReadTokenFile(*config.api_token_file).status());
    } else if (config.api_enabled && !tw::api::IsLoopbackHost(config.api_bind)) {
      return tw::InvalidArgumentError("api.token_file is required when api.bind ('" +
                                      config.api_bind + "') is not loopback");
    }
    std::cout << "transferwatchd: the configuration is valid ("
              << config_path.value_or("no config file") << ")\n";
    return tw::OkStatus();
  }
  tw::InitLogging("transferwatchd", level);

  bool is_root = ::geteuid() == 0;
  tw::DatabaseSettings db;
  db.url = database_url ? database_url : Env("TRANSFERWATCH_DATABASE_URL");
  if (!db.url) db.url = config.database_url;
  std::optional<std::string> home = state_dir ? state_dir : Env("TRANSFERWATCH_HOME");
  if (!home) home = config.state_dir;
  db.state_dir = home ? *home : tw::DefaultStateDir(Env, is_root);
  db.embedded_user = Env("TRANSFERWATCH_EMBEDDED_USER");
  if (!db.embedded_user) db.embedded_user = config.embedded_user;

  TW_ASSIGN_OR_RETURN(auto handle, tw::OpenStore(db, /*migrate=*/true));
  TW_ASSIGN_OR_RETURN(auto known, tw::EmbeddedMigrations());
  TW_ASSIGN_OR_RETURN(auto schema, handle->store().GetSchemaStatus(known));
  std::string conninfo = db.url ? tw::WithKeepalives(handle->conninfo()) : handle->conninfo();

  tw::daemon::DaemonDeps deps;
  deps.config = config;
  deps.config_path = config_path;
  deps.command_line_roots = command_line_roots;
  deps.connect = [conninfo]() -> tw::StatusOr<std::unique_ptr<tw::QueueStore>> {
    TW_ASSIGN_OR_RETURN(auto store, tw::PgStore::Connect(conninfo));
    return std::unique_ptr<tw::QueueStore>(std::move(store));
  };
  deps.listen = [conninfo]() -> tw::StatusOr<std::unique_ptr<tw::JobNotifications>> {
    TW_ASSIGN_OR_RETURN(auto listener, tw::PgJobListener::Connect(conninfo));
    return std::unique_ptr<tw::JobNotifications>(std::move(listener));
  };
  deps.clock = &tw::RealClock();
  deps.host = tw::LocalHostName();
  deps.evaluator = evaluator ? *evaluator : config.evaluator.value_or(EvaluatorBesideUs());
  // The evaluator is started in its job folder (runner/evaluator_run.h), where a relative path
  // would name nothing: it is taken relative to the daemon's working directory. A bare name is
  // looked up on PATH.
  if (deps.evaluator.find('/') != std::string::npos && deps.evaluator.front() != '/') {
    std::error_code cwd_error;
    auto absolute = std::filesystem::absolute(deps.evaluator, cwd_error);
    if (!cwd_error) deps.evaluator = absolute.lexically_normal().string();
  }
  deps.work_dir = config.work_dir.value_or(db.state_dir + "/work");
  std::error_code ec;
  std::filesystem::create_directories(deps.work_dir, ec);
  if (ec) return tw::ErrnoToStatus(ec.value(), "cannot create " + deps.work_dir);
  deps.schema_version = std::to_string(schema.applied.empty() ? 0 : schema.applied.back().version);
  deps.notify = [](const std::string& message) { sd_notify(0, message.c_str()); };
  uint64_t watchdog_usec = 0;
  if (sd_watchdog_enabled(0, &watchdog_usec) > 0 && watchdog_usec > 0) {
    deps.watchdog_interval = std::chrono::milliseconds(watchdog_usec / 2000);
  }
  tw::daemon::Daemon daemon(std::move(deps));
  return daemon.Run();
}

}  // namespace

int main(int argc, char** argv) {
  tw::Status status = Main(argc, argv);
  if (!status.ok()) return Fail(status);
  return 0;
}
