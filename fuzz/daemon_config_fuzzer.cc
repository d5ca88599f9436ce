// transferwatchd's TOML config (common/config + daemon/config): the file an operator writes,
// parsed against the daemon's key table and checked field by field.
//
// Invariants: a bad file is InvalidArgument naming the file; an accepted config, written back as
// TOML, parses and checks again to the same config (what was accepted re-validates, and no value
// is changed by the loader); ValidateDaemonConfig gives the same answer for both; the eval config
// overrides the daemon applies to every dataset are a JSON object whose effect, when valid, hashes
// and round-trips through its canonical form (protocol/eval_config).
#include <charconv>
#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <string>
#include <string_view>
#include <vector>

#include "common/config.h"
#include "daemon/config.h"
#include "fuzz/fuzz_check.h"
#include "protocol/eval_config.h"

namespace {

using tw::daemon::DaemonConfig;

std::string Quoted(std::string_view s) {
  std::string out = "\"";
  for (char ch : s) {
    const auto c = static_cast<unsigned char>(ch);
    if (c == '"' || c == '\\') {
      out += '\\';
      out += ch;
    } else if (c < 0x20 || c == 0x7f) {
      char buf[8];
      std::snprintf(buf, sizeof buf, "\\u%04X", c);
      out += buf;
    } else {
      out += ch;
    }
  }
  return out + "\"";
}

std::string List(const std::vector<std::string>& items) {
  std::string out = "[";
  for (size_t i = 0; i < items.size(); ++i) out += (i ? ", " : "") + Quoted(items[i]);
  return out + "]";
}

std::string Duration(std::chrono::milliseconds d) {
  return Quoted(std::to_string(d.count()) + "ms");
}

std::string Float(double x) {
  char buf[64];
  auto end = std::to_chars(buf, buf + sizeof buf, x).ptr;
  std::string out(buf, end);
  if (out.find_first_of(".eE") == std::string::npos) out += ".0";  // a TOML float, not an int
  return out;
}

// Every field, so that the second parse sees exactly what the first one produced.
std::string ToToml(const DaemonConfig& c) {
  std::string t;
  auto line = [&](std::string_view key, const std::string& value) {
    t += std::string(key) + " = " + value + "\n";
  };
  auto optional = [&](std::string_view key, const std::optional<std::string>& value) {
    if (value) line(key, Quoted(*value));
  };
  optional("state_dir", c.state_dir);
  t += "[watch]\n";
  line("roots", List(c.watch_roots));
  line("patterns", List(c.patterns));
  line("settle", Duration(c.settle));
  line("rescan_interval", Duration(c.rescan_interval));
  line("inotify", c.inotify ? "true" : "false");
  t += "[eval]\n";
  line("datasets", List(c.datasets));
  line("config", Quoted(c.eval_config_json));
  optional("evaluator", c.evaluator);
  line("threads", std::to_string(c.threads));
  line("decode_threads", std::to_string(c.decode_threads));
  line("timeout", Duration(c.eval_timeout));
  line("memory_limit_mb", std::to_string(c.memory_limit_mb));
  optional("work_dir", c.work_dir);
  t += "[workers]\n";
  line("slots", std::to_string(c.slots));
  line("lease", Duration(c.lease));
  line("heartbeat", Duration(c.heartbeat));
  line("max_attempts", std::to_string(c.max_attempts));
  line("retry_backoff", Duration(c.retry_backoff));
  line("poll_interval", Duration(c.poll_interval));
  line("plan_interval", Duration(c.plan_interval));
  line("drain_timeout", Duration(c.drain_timeout));
  t += "[analysis]\n";
  line("primary_dataset", Quoted(c.primary_dataset));
  line("alpha", Float(c.alpha));
  line("min_gain", Float(c.min_gain));
  t += "[alerts]\n";
  line("max_messages_per_minute", std::to_string(c.alerts_max_messages_per_minute));
  line("max_events_per_message", std::to_string(c.alerts_max_events_per_message));
  t += "[api]\n";
  line("enabled", c.api_enabled ? "true" : "false");
  line("bind", Quoted(c.api_bind));
  line("port", std::to_string(c.api_port));
  optional("token_file", c.api_token_file);
  t += "[database]\n";
  optional("url", c.database_url);
  optional("embedded_user", c.embedded_user);
  t += "[log]\n";
  optional("level", c.log_level);
  return t;
}

bool Same(const DaemonConfig& a, const DaemonConfig& b) {
  return a.watch_roots == b.watch_roots && a.patterns == b.patterns && a.settle == b.settle &&
         a.rescan_interval == b.rescan_interval && a.inotify == b.inotify &&
         a.datasets == b.datasets && a.eval_config_json == b.eval_config_json &&
         a.evaluator == b.evaluator && a.threads == b.threads &&
         a.decode_threads == b.decode_threads && a.eval_timeout == b.eval_timeout &&
         a.memory_limit_mb == b.memory_limit_mb && a.work_dir == b.work_dir && a.slots == b.slots &&
         a.lease == b.lease && a.heartbeat == b.heartbeat && a.max_attempts == b.max_attempts &&
         a.retry_backoff == b.retry_backoff && a.poll_interval == b.poll_interval &&
         a.plan_interval == b.plan_interval && a.drain_timeout == b.drain_timeout &&
         a.primary_dataset == b.primary_dataset && a.alpha == b.alpha && a.min_gain == b.min_gain &&
         a.alerts_max_messages_per_minute == b.alerts_max_messages_per_minute &&
         a.alerts_max_events_per_message == b.alerts_max_events_per_message &&
         a.api_enabled == b.api_enabled && a.api_bind == b.api_bind && a.api_port == b.api_port &&
         a.api_token_file == b.api_token_file && a.state_dir == b.state_dir &&
         a.database_url == b.database_url && a.embedded_user == b.embedded_user &&
         a.log_level == b.log_level;
}

// What the planner does with eval.config for every dataset (runner::OverridesFromJson).
void CheckEvalOverrides(const std::string& overrides) {
  tw::EvalConfig config;
  tw::Status applied = tw::ApplyEvalConfigJson(overrides, &config);
  if (!applied.ok()) {
    TW_FUZZ_CHECK(applied.code() == tw::StatusCode::kInvalidArgument,
                  "bad overrides are InvalidArgument");
    return;
  }
  tw::NormalizeEvalConfig(/*resize_and_crop=*/true, &config);
  if (!tw::ValidateEvalConfig(config).ok()) return;
  auto hashed = tw::HashEvalConfig(config);
  TW_FUZZ_CHECK(hashed.ok(), "a valid eval config hashes");
  tw::EvalConfig again;
  TW_FUZZ_CHECK(tw::ApplyEvalConfigJson(hashed->canonical, &again).ok(),
                "a canonical eval config applies");
  auto hashed_again = tw::HashEvalConfig(again);
  TW_FUZZ_CHECK(hashed_again.ok() && hashed_again->sha256 == hashed->sha256,
                "the canonical eval config is the same config");
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const std::string_view text(reinterpret_cast<const char*>(data), size);
  auto doc = tw::ParseConfig(text, "transferwatchd.toml", tw::daemon::DaemonConfigKeys());
  if (!doc.ok()) {
    TW_FUZZ_CHECK(doc.status().code() == tw::StatusCode::kInvalidArgument,
                  "ParseConfig fails only with InvalidArgument");
    TW_FUZZ_CHECK(doc.status().message().rfind("transferwatchd.toml", 0) == 0,
                  "a config error names the file");
    return 0;
  }
  auto config = tw::daemon::DaemonConfigFromDoc(*doc);
  if (!config.ok()) {
    TW_FUZZ_CHECK(config.status().code() == tw::StatusCode::kInvalidArgument,
                  "DaemonConfigFromDoc fails only with InvalidArgument");
    return 0;
  }
  const tw::Status valid = tw::daemon::ValidateDaemonConfig(*config);

  const std::string written = ToToml(*config);
  auto doc_again = tw::ParseConfig(written, "written.toml", tw::daemon::DaemonConfigKeys());
  if (!doc_again.ok()) std::fprintf(stderr, "%s\n", doc_again.status().message().c_str());
  TW_FUZZ_CHECK(doc_again.ok(), "an accepted config written back parses");
  auto config_again = tw::daemon::DaemonConfigFromDoc(*doc_again);
  if (!config_again.ok()) std::fprintf(stderr, "%s\n", config_again.status().message().c_str());
  TW_FUZZ_CHECK(config_again.ok(), "an accepted config written back is accepted");
  TW_FUZZ_CHECK(Same(*config, *config_again), "and is the same config");
  TW_FUZZ_CHECK(tw::daemon::ValidateDaemonConfig(*config_again).ok() == valid.ok(),
                "and validates the same");
  CheckEvalOverrides(config->eval_config_json);
  return 0;
}
