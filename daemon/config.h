// transferwatchd's settings: the TOML file (every key in kDaemonConfigKeys, documented in
// schemas/daemon-config.schema.json and docs/daemon.md), over defaults that make
// `transferwatchd --watch DIR` alone a working daemon.
#pragma once

#include <chrono>
#include <optional>
#include <string>
#include <vector>

#include "common/config.h"
#include "common/status.h"

namespace tw::daemon {

struct DaemonConfig {
  // [watch]
  std::vector<std::string> watch_roots;
  std::vector<std::string> patterns{"*.pt", "*.pth"};
  std::chrono::milliseconds settle{std::chrono::seconds(2)};
  std::chrono::milliseconds rescan_interval{std::chrono::seconds(30)};
  bool inotify = true;
  // [eval]
  std::vector<std::string> datasets;     // empty: every registered dataset with files
  std::string eval_config_json = "{}";   // overrides applied to each dataset's default config
  std::optional<std::string> evaluator;  // default: transferwatch-eval beside the daemon
  int threads = 0;                       // evaluator threads (0: the evaluator decides)
  int decode_threads = 1;
  std::chrono::milliseconds eval_timeout{std::chrono::hours(24)};
  int64_t memory_limit_mb = 0;          // RLIMIT_DATA of the evaluator; 0: none
  std::optional<std::string> work_dir;  // default: <state_dir>/work
  // [workers]
  int slots = 1;
  std::chrono::milliseconds lease{std::chrono::seconds(60)};
  std::chrono::milliseconds heartbeat{std::chrono::seconds(10)};
  int max_attempts = 3;
  std::chrono::milliseconds retry_backoff{std::chrono::seconds(30)};  // doubled per attempt
  std::chrono::milliseconds poll_interval{std::chrono::seconds(5)};
  std::chrono::milliseconds plan_interval{std::chrono::seconds(30)};
  std::chrono::milliseconds drain_timeout{std::chrono::seconds(30)};
  // [analysis]
  std::string primary_dataset = "imagenet";
  double alpha = 0.05;
  double min_gain = 0.1;
  // [alerts]
  int alerts_max_messages_per_minute = 20;  // per webhook; 0: no limit
  int alerts_max_events_per_message = 10;
  // [api]
  bool api_enabled = true;
  std::string api_bind = "127.0.0.1";
  int api_port = 8470;
  std::optional<std::string> api_token_file;
  // Shared with the CLI: state_dir, [database], [log].
  std::optional<std::string> state_dir;
  std::optional<std::string> database_url;
  std::optional<std::string> embedded_user;
  std::optional<std::string> log_level;
};

const std::vector<ConfigKeySpec>& DaemonConfigKeys();

// Reads and checks a config document; InvalidArgument naming the file, line and key.
StatusOr<DaemonConfig> DaemonConfigFromDoc(const ConfigDoc& doc);
StatusOr<DaemonConfig> LoadDaemonConfig(const std::string& path);
// Cross-field checks (heartbeat shorter than the lease, a watch root at least...).
Status ValidateDaemonConfig(const DaemonConfig& config);

}  // namespace tw::daemon
