// The commented default config the package installs as /etc/transferwatch/daemon.toml
// (deploy/daemon.toml): as shipped it loads and changes nothing, and with every setting
// uncommented it still loads, names every key the daemon accepts exactly once, and states the
// daemon's real defaults.
#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <fstream>
#include <map>
#include <regex>
#include <set>
#include <sstream>

#include "daemon/config.h"
#include "tests/testing/status_matchers.h"
#include "tests/testing/temp_dir.h"

namespace tw::daemon {
namespace {

using ::testing::HasSubstr;
using ::tw::testing::StatusIs;

const std::string kShipped = std::string(TW_DEPLOY_DIR) + "/daemon.toml";

// Every setting: what the loader produced, or the default it stands for.
void ExpectSameSettings(const DaemonConfig& a, const DaemonConfig& b) {
  EXPECT_EQ(a.watch_roots, b.watch_roots);
  EXPECT_EQ(a.patterns, b.patterns);
  EXPECT_EQ(a.settle, b.settle);
  EXPECT_EQ(a.rescan_interval, b.rescan_interval);
  EXPECT_EQ(a.inotify, b.inotify);
  EXPECT_EQ(a.datasets, b.datasets);
  EXPECT_EQ(a.eval_config_json, b.eval_config_json);
  EXPECT_EQ(a.evaluator, b.evaluator);
  EXPECT_EQ(a.threads, b.threads);
  EXPECT_EQ(a.decode_threads, b.decode_threads);
  EXPECT_EQ(a.eval_timeout, b.eval_timeout);
  EXPECT_EQ(a.memory_limit_mb, b.memory_limit_mb);
  EXPECT_EQ(a.work_dir, b.work_dir);
  EXPECT_EQ(a.slots, b.slots);
  EXPECT_EQ(a.lease, b.lease);
  EXPECT_EQ(a.heartbeat, b.heartbeat);
  EXPECT_EQ(a.max_attempts, b.max_attempts);
  EXPECT_EQ(a.retry_backoff, b.retry_backoff);
  EXPECT_EQ(a.poll_interval, b.poll_interval);
  EXPECT_EQ(a.plan_interval, b.plan_interval);
  EXPECT_EQ(a.drain_timeout, b.drain_timeout);
  EXPECT_EQ(a.primary_dataset, b.primary_dataset);
  EXPECT_EQ(a.alpha, b.alpha);
  EXPECT_EQ(a.min_gain, b.min_gain);
  EXPECT_EQ(a.alerts_max_messages_per_minute, b.alerts_max_messages_per_minute);
  EXPECT_EQ(a.alerts_max_events_per_message, b.alerts_max_events_per_message);
  EXPECT_EQ(a.api_enabled, b.api_enabled);
  EXPECT_EQ(a.api_bind, b.api_bind);
  EXPECT_EQ(a.api_port, b.api_port);
  EXPECT_EQ(a.api_token_file, b.api_token_file);
  EXPECT_EQ(a.state_dir, b.state_dir);
  EXPECT_EQ(a.database_url, b.database_url);
  EXPECT_EQ(a.embedded_user, b.embedded_user);
  EXPECT_EQ(a.log_level, b.log_level);
}

std::string ReadShipped() {
  std::ifstream in(kShipped);
  EXPECT_TRUE(in) << kShipped << " is missing";
  std::stringstream text;
  text << in.rdbuf();
  return text.str();
}

// The file with every commented-out setting ("#key = value", no space after '#'; prose
// comments have one) made live, and the dotted keys in the order they appear.
std::string Uncommented(const std::string& text, std::vector<std::string>* keys) {
  static const std::regex kSetting(R"(^#([a-z_]+) = .*$)");
  static const std::regex kTable(R"(^\[([a-z_]+)\]$)");
  std::istringstream in(text);
  std::string line, table, out;
  while (std::getline(in, line)) {
    std::smatch m;
    if (std::regex_match(line, m, kTable)) table = m[1];
    if (std::regex_match(line, m, kSetting)) {
      keys->push_back(table.empty() ? m[1].str() : table + "." + m[1].str());
      line = line.substr(1);
    }
    out += line + "\n";
  }
  return out;
}

TEST(DefaultConfigTest, AsShippedItLoadsAndChangesNothing) {
  TW_ASSERT_OK_AND_ASSIGN(DaemonConfig shipped, LoadDaemonConfig(kShipped));
  ExpectSameSettings(shipped, DaemonConfig{});
  // It asks for a watch root before the daemon can start, as the file's header says.
  EXPECT_THAT(ValidateDaemonConfig(shipped),
              StatusIs(StatusCode::kInvalidArgument, HasSubstr("nothing to watch")));
}

TEST(DefaultConfigTest, EveryKeyIsThereOnceWithItsDefault) {
  std::vector<std::string> keys;
  std::string live = Uncommented(ReadShipped(), &keys);
  std::map<std::string, int> seen;
  for (const auto& key : keys) ++seen[key];
  for (const auto& spec : DaemonConfigKeys()) {
    EXPECT_EQ(seen[spec.key], 1) << spec.key << " should be in " << kShipped << " once";
  }
  EXPECT_EQ(seen.size(), DaemonConfigKeys().size()) << "a setting the daemon does not accept";

  testing::TempDir dir;
  testing::WriteTestFile(dir.Sub("daemon.toml"), live);
  TW_ASSERT_OK_AND_ASSIGN(DaemonConfig all, LoadDaemonConfig(dir.Sub("daemon.toml")));
  TW_EXPECT_OK(ValidateDaemonConfig(all));
  // Keys without a default carry examples; every other value is the daemon's own default.
  DaemonConfig expected;
  expected.watch_roots = {"/srv/checkpoints"};
  expected.evaluator = "/usr/bin/transferwatch-eval";
  expected.work_dir = "/var/lib/transferwatch/work";
  expected.api_token_file = "/etc/transferwatch/api-token";
  expected.state_dir = "/var/lib/transferwatch";
  expected.database_url = "postgresql://transferwatch@db.example.org/transferwatch";
  expected.embedded_user = "transferwatch";
  expected.log_level = "info";  // optional only so that flags and environment can win
  ExpectSameSettings(all, expected);
}

}  // namespace
}  // namespace tw::daemon
