#include "daemon/config.h"

#include <nlohmann/json.hpp>

#include "protocol/eval_config.h"

namespace tw::daemon {

const std::vector<ConfigKeySpec>& DaemonConfigKeys() {
  static const std::vector<ConfigKeySpec> keys = {
      {"watch.roots", ConfigType::kStringList,
       "folders whose first-level subfolders are runs holding checkpoints"},
      {"watch.patterns", ConfigType::kStringList, "checkpoint file name globs (*.pt, *.pth)"},
      {"watch.settle", ConfigType::kDuration, "how long size and mtime must be stable"},
      {"watch.rescan_interval", ConfigType::kDuration, "period of the full rescan"},
      {"watch.inotify", ConfigType::kBool, "use inotify (false: rescans only, for NFS)"},
      {"eval.datasets", ConfigType::kStringList, "datasets to evaluate (default: all)"},
      {"eval.config", ConfigType::kString,
       "JSON object of eval config overrides for every dataset, e.g. {\"batch_size\": 64}"},
      {"eval.evaluator", ConfigType::kString, "path of transferwatch-eval"},
      {"eval.threads", ConfigType::kInteger, "evaluator inference threads (0: automatic)"},
      {"eval.decode_threads", ConfigType::kInteger, "evaluator image decoding threads"},
      {"eval.timeout", ConfigType::kDuration, "an evaluation is killed after this long"},
      {"eval.memory_limit_mb", ConfigType::kInteger, "evaluator data size limit (0: none)"},
      {"eval.work_dir", ConfigType::kString, "where job folders are made"},
      {"workers.slots", ConfigType::kInteger, "evaluations run at once by this daemon"},
      {"workers.lease", ConfigType::kDuration, "a claim's lease; renewed by heartbeats"},
      {"workers.heartbeat", ConfigType::kDuration, "heartbeat period (shorter than the lease)"},
      {"workers.max_attempts", ConfigType::kInteger, "attempts before a job is dead"},
      {"workers.retry_backoff", ConfigType::kDuration, "wait before a retry, doubled each time"},
      {"workers.poll_interval", ConfigType::kDuration, "idle workers look for jobs this often"},
      {"workers.plan_interval", ConfigType::kDuration, "period of planning and lease rescue"},
      {"workers.drain_timeout", ConfigType::kDuration,
       "on SIGTERM, how long a running evaluation may finish before it is stopped"},
      {"analysis.primary_dataset", ConfigType::kString,
       "the dataset \"the run's best so far\" is measured on"},
      {"analysis.alpha", ConfigType::kFloat, "significance level of the paired tests"},
      {"analysis.min_gain", ConfigType::kFloat,
       "smallest reference-dataset gain, in points, that counts"},
      {"alerts.max_messages_per_minute", ConfigType::kInteger,
       "messages one webhook gets in any minute (0: no limit); the rest are coalesced"},
      {"alerts.max_events_per_message", ConfigType::kInteger,
       "events a coalesced chat message carries (generic webhooks: one each)"},
      {"api.enabled", ConfigType::kBool, "serve the HTTP API"},
      {"api.bind", ConfigType::kString, "HTTP address (a token is required beyond loopback)"},
      {"api.port", ConfigType::kInteger, "HTTP port"},
      {"api.token_file", ConfigType::kString, "file holding the bearer token (mode 0600)"},
      {"state_dir", ConfigType::kString, "state directory (embedded database, work folders)"},
      {"database.url", ConfigType::kString, "PostgreSQL URL; none: the embedded database"},
      {"database.embedded_user", ConfigType::kString, "embedded cluster's user when root"},
      {"log.level", ConfigType::kString, "trace, debug, info, warn, error, critical or off"},
  };
  return keys;
}

namespace {

Status Positive(const ConfigDoc& doc, std::string_view key, int64_t value, int64_t low,
                int64_t high) {
  if (value < low || value > high) {
    return doc.ErrorAt(key, "must be between " + std::to_string(low) + " and " +
                                std::to_string(high) + ", not " + std::to_string(value));
  }
  return OkStatus();
}

Status PositiveDuration(const ConfigDoc& doc, std::string_view key, std::chrono::milliseconds d) {
  if (d.count() <= 0) return doc.ErrorAt(key, "must be longer than 0");
  return OkStatus();
}

}  // namespace

// Durations are compared, doubled and added to clock readings in nanoseconds: ten years keeps
// all of that far from int64 overflow (292 years of nanoseconds), which "9223372036854775807ms"
// reached (found by fuzz/daemon_config_fuzzer.cc).
constexpr std::chrono::hours kMaxDuration{24 * 3650};

StatusOr<DaemonConfig> DaemonConfigFromDoc(const ConfigDoc& doc) {
  for (const auto& spec : DaemonConfigKeys()) {
    if (spec.type != ConfigType::kDuration) continue;
    if (auto v = doc.GetDuration(spec.key); v && *v > kMaxDuration) {
      return doc.ErrorAt(spec.key, "must be at most 3650d (ten years)");
    }
  }
  DaemonConfig c;
  if (auto v = doc.GetStringList("watch.roots")) c.watch_roots = *v;
  if (auto v = doc.GetStringList("watch.patterns")) {
    if (v->empty()) return doc.ErrorAt("watch.patterns", "needs at least one pattern");
    c.patterns = *v;
  }
  if (auto v = doc.GetDuration("watch.settle")) c.settle = *v;
  if (auto v = doc.GetDuration("watch.rescan_interval")) {
    TW_RETURN_IF_ERROR(PositiveDuration(doc, "watch.rescan_interval", *v));
    c.rescan_interval = *v;
  }
  if (auto v = doc.GetBool("watch.inotify")) c.inotify = *v;
  if (auto v = doc.GetStringList("eval.datasets")) c.datasets = *v;
  if (auto v = doc.GetString("eval.config")) {
    auto parsed = nlohmann::json::parse(*v, nullptr, false);
    if (parsed.is_discarded() || !parsed.is_object()) {
      return doc.ErrorAt("eval.config", "is not a JSON object");
    }
    // Keys and values checked now, against the defaults, not when the first job is planned:
    // a typo must stop the daemon at start (or be refused by SIGHUP), naming the key.
    EvalConfig probe;
    if (Status applied = ApplyEvalConfigJson(*v, &probe); !applied.ok()) {
      std::string why(applied.message());
      if (why.rfind("eval config: ", 0) == 0) why.erase(0, 13);
      return doc.ErrorAt("eval.config", "is refused: " + why);
    }
    c.eval_config_json = parsed.dump();
  }
  if (auto v = doc.GetString("eval.evaluator")) c.evaluator = *v;
  if (auto v = doc.GetInt("eval.threads")) {
    TW_RETURN_IF_ERROR(Positive(doc, "eval.threads", *v, 0, 1024));
    c.threads = static_cast<int>(*v);
  }
  if (auto v = doc.GetInt("eval.decode_threads")) {
    TW_RETURN_IF_ERROR(Positive(doc, "eval.decode_threads", *v, 1, 256));
    c.decode_threads = static_cast<int>(*v);
  }
  if (auto v = doc.GetDuration("eval.timeout")) {
    TW_RETURN_IF_ERROR(PositiveDuration(doc, "eval.timeout", *v));
    c.eval_timeout = *v;
  }
  if (auto v = doc.GetInt("eval.memory_limit_mb")) {
    TW_RETURN_IF_ERROR(Positive(doc, "eval.memory_limit_mb", *v, 0, int64_t{1} << 30));
    c.memory_limit_mb = *v;
  }
  if (auto v = doc.GetString("eval.work_dir")) c.work_dir = *v;
  if (auto v = doc.GetInt("workers.slots")) {
    TW_RETURN_IF_ERROR(Positive(doc, "workers.slots", *v, 0, 256));
    c.slots = static_cast<int>(*v);
  }
  for (auto [key, field] :
       {std::pair{"workers.lease", &c.lease}, std::pair{"workers.heartbeat", &c.heartbeat},
        std::pair{"workers.retry_backoff", &c.retry_backoff},
        std::pair{"workers.poll_interval", &c.poll_interval},
        std::pair{"workers.plan_interval", &c.plan_interval},
        std::pair{"workers.drain_timeout", &c.drain_timeout}}) {
    if (auto v = doc.GetDuration(key)) {
      TW_RETURN_IF_ERROR(PositiveDuration(doc, key, *v));
      *field = *v;
    }
  }
  if (c.heartbeat * 2 > c.lease) {
    return doc.ErrorAt(doc.Has("workers.heartbeat") ? "workers.heartbeat" : "workers.lease",
                       "the heartbeat must be at most half the lease, so one late heartbeat "
                       "does not lose it");
  }
  if (auto v = doc.GetInt("workers.max_attempts")) {
    TW_RETURN_IF_ERROR(Positive(doc, "workers.max_attempts", *v, 1, 100));
    c.max_attempts = static_cast<int>(*v);
  }
  if (auto v = doc.GetString("analysis.primary_dataset")) c.primary_dataset = *v;
  if (auto v = doc.GetFloat("analysis.alpha")) {
    if (!(*v > 0 && *v < 0.5)) return doc.ErrorAt("analysis.alpha", "must be between 0 and 0.5");
    c.alpha = *v;
  }
  if (auto v = doc.GetFloat("analysis.min_gain")) {
    if (!(*v >= 0 && *v <= 100)) {
      return doc.ErrorAt("analysis.min_gain", "must be between 0 and 100 points");
    }
    c.min_gain = *v;
  }
  if (auto v = doc.GetInt("alerts.max_messages_per_minute")) {
    TW_RETURN_IF_ERROR(Positive(doc, "alerts.max_messages_per_minute", *v, 0, 10000));
    c.alerts_max_messages_per_minute = static_cast<int>(*v);
  }
  if (auto v = doc.GetInt("alerts.max_events_per_message")) {
    TW_RETURN_IF_ERROR(Positive(doc, "alerts.max_events_per_message", *v, 1, 10));
    c.alerts_max_events_per_message = static_cast<int>(*v);
  }
  if (auto v = doc.GetBool("api.enabled")) c.api_enabled = *v;
  if (auto v = doc.GetString("api.bind")) c.api_bind = *v;
  if (auto v = doc.GetInt("api.port")) {
    TW_RETURN_IF_ERROR(Positive(doc, "api.port", *v, 0, 65535));
    c.api_port = static_cast<int>(*v);
  }
  if (auto v = doc.GetString("api.token_file")) c.api_token_file = *v;
  if (auto v = doc.GetString("state_dir")) c.state_dir = *v;
  if (auto v = doc.GetString("database.url")) c.database_url = *v;
  if (auto v = doc.GetString("database.embedded_user")) c.embedded_user = *v;
  if (auto v = doc.GetString("log.level")) c.log_level = *v;
  return c;
}

StatusOr<DaemonConfig> LoadDaemonConfig(const std::string& path) {
  TW_ASSIGN_OR_RETURN(ConfigDoc doc, LoadConfigFile(path, DaemonConfigKeys()));
  return DaemonConfigFromDoc(doc);
}

Status ValidateDaemonConfig(const DaemonConfig& config) {
  if (config.watch_roots.empty()) {
    return InvalidArgumentError(
        "nothing to watch: give --watch DIR or watch.roots in the config file");
  }
  for (const auto& root : config.watch_roots) {
    if (root.empty() || root[0] != '/') {
      return InvalidArgumentError("watch root '" + root + "' must be an absolute path");
    }
  }
  return OkStatus();
}

}  // namespace tw::daemon
