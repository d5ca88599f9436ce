// transferwatchd's config: defaults, refusals naming the key, and the JSON schema in schemas/
// documenting exactly the keys the daemon accepts.
#include "daemon/config.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <fstream>
#include <nlohmann/json.hpp>
#include <set>
#include <sstream>

#include "tests/testing/status_matchers.h"

namespace tw::daemon {
namespace {

using ::testing::HasSubstr;
using ::tw::testing::StatusIs;

StatusOr<DaemonConfig> Parse(const std::string& toml) {
  TW_ASSIGN_OR_RETURN(ConfigDoc doc, ParseConfig(toml, "daemon.toml", DaemonConfigKeys()));
  return DaemonConfigFromDoc(doc);
}

TEST(DaemonConfigTest, AnEmptyFileGivesTheDefaults) {
  TW_ASSERT_OK_AND_ASSIGN(DaemonConfig c, Parse(""));
  EXPECT_EQ(c.patterns, (std::vector<std::string>{"*.pt", "*.pth"}));
  EXPECT_EQ(c.settle, std::chrono::seconds(2));
  EXPECT_EQ(c.slots, 1);
  EXPECT_EQ(c.api_bind, "127.0.0.1");
  EXPECT_EQ(c.api_port, 8470);
  EXPECT_EQ(c.eval_config_json, "{}");
  EXPECT_THAT(ValidateDaemonConfig(c),
              StatusIs(StatusCode::kInvalidArgument, HasSubstr("--watch")));
  c.watch_roots = {"relative/dir"};
  EXPECT_THAT(ValidateDaemonConfig(c),
              StatusIs(StatusCode::kInvalidArgument, HasSubstr("absolute")));
}

TEST(DaemonConfigTest, ReadsEveryTable) {
  TW_ASSERT_OK_AND_ASSIGN(DaemonConfig c, Parse(R"(
state_dir = "/var/lib/tw"
[watch]
roots = ["/ckpt"]
patterns = ["*.pt"]
settle = "500ms"
inotify = false
[eval]
datasets = ["val", "v2"]
config = '{"batch_size": 64}'
memory_limit_mb = 8192
[workers]
slots = 2
lease = "2m"
heartbeat = "20s"
max_attempts = 5
[api]
bind = "0.0.0.0"
token_file = "/etc/transferwatch/token"
[database]
url = "postgresql://tw@db/tw"
)"));
  EXPECT_EQ(c.watch_roots, std::vector<std::string>{"/ckpt"});
  EXPECT_FALSE(c.inotify);
  EXPECT_EQ(c.settle, std::chrono::milliseconds(500));
  EXPECT_EQ(c.datasets.size(), 2u);
  EXPECT_EQ(c.eval_config_json, "{\"batch_size\":64}");
  EXPECT_EQ(c.memory_limit_mb, 8192);
  EXPECT_EQ(c.slots, 2);
  EXPECT_EQ(c.lease, std::chrono::minutes(2));
  EXPECT_EQ(c.max_attempts, 5);
  EXPECT_EQ(c.api_token_file, "/etc/transferwatch/token");
  EXPECT_EQ(c.database_url, "postgresql://tw@db/tw");
  EXPECT_TRUE(ValidateDaemonConfig(c).ok());
}

TEST(DaemonConfigTest, RefusalsNameTheKeyAndTheReason) {
  EXPECT_THAT(Parse("[workers]\nleese = \"1s\"\n"),
              StatusIs(StatusCode::kInvalidArgument, HasSubstr("workers.leese")));
  EXPECT_THAT(Parse("[workers]\nslots = 1000\n"),
              StatusIs(StatusCode::kInvalidArgument,
                       ::testing::AllOf(HasSubstr("workers.slots"), HasSubstr("1000"))));
  EXPECT_THAT(Parse("[workers]\nlease = \"10s\"\nheartbeat = \"6s\"\n"),
              StatusIs(StatusCode::kInvalidArgument,
                       ::testing::AllOf(HasSubstr("workers.heartbeat"), HasSubstr("half"))));
  EXPECT_THAT(Parse("[eval]\nconfig = '[1, 2]'\n"),
              StatusIs(StatusCode::kInvalidArgument, HasSubstr("eval.config")));
  // Override keys and values are checked at start, not when the first job is planned.
  EXPECT_THAT(Parse("[eval]\nconfig = '{\"batch_sise\": 64}'\n"),
              StatusIs(StatusCode::kInvalidArgument,
                       ::testing::AllOf(HasSubstr("eval.config"), HasSubstr("batch_sise"))));
  EXPECT_THAT(Parse("[eval]\nconfig = '{\"img_size\": 4294967520}'\n"),
              StatusIs(StatusCode::kInvalidArgument,
                       ::testing::AllOf(HasSubstr("eval.config"), HasSubstr("out of range"))));
  EXPECT_THAT(Parse("[watch]\npatterns = []\n"),
              StatusIs(StatusCode::kInvalidArgument, HasSubstr("watch.patterns")));
  EXPECT_THAT(Parse("[watch]\nsettle = \"soon\"\n"),
              StatusIs(StatusCode::kInvalidArgument, HasSubstr("watch.settle")));
  EXPECT_THAT(Parse("[api]\nport = 70000\n"),
              StatusIs(StatusCode::kInvalidArgument, HasSubstr("api.port")));
  EXPECT_THAT(Parse("[workers]\npoll_interval = \"0s\"\n"),
              StatusIs(StatusCode::kInvalidArgument, HasSubstr("workers.poll_interval")));
}

// Found by fuzz/daemon_config_fuzzer.cc: the heartbeat check doubled the heartbeat, and a
// duration of 2^63-1 ms overflowed int64 (undefined behaviour) before anything refused it.
TEST(DaemonConfigTest, RefusesDurationsBeyondTenYears) {
  EXPECT_THAT(Parse("[workers]\nheartbeat = \"9223372036854775807ms\"\n"
                    "lease = \"9223372036854775807ms\"\n"),
              StatusIs(StatusCode::kInvalidArgument,
                       ::testing::AllOf(HasSubstr("workers.lease"), HasSubstr("3650d"))));
  EXPECT_THAT(Parse("[watch]\nsettle = \"3651d\"\n"),
              StatusIs(StatusCode::kInvalidArgument, HasSubstr("watch.settle")));
  TW_ASSERT_OK_AND_ASSIGN(DaemonConfig c, Parse("[eval]\ntimeout = \"3650d\"\n"));
  EXPECT_EQ(c.eval_timeout, std::chrono::hours(24 * 3650));
}

void CollectKeys(const nlohmann::json& properties, const std::string& prefix,
                 std::map<std::string, std::string>* out) {
  for (const auto& [name, schema] : properties.items()) {
    std::string key = prefix.empty() ? name : prefix + "." + name;
    if (schema.value("type", "") == "object") {
      CollectKeys(schema["properties"], key, out);
    } else {
      (*out)[key] = schema.value("type", "") + (schema.contains("pattern") ? ":duration" : "");
    }
  }
}

TEST(DaemonConfigTest, TheJsonSchemaDocumentsExactlyTheAcceptedKeys) {
  std::ifstream in(std::string(TW_SCHEMAS_DIR) + "/daemon-config.schema.json");
  ASSERT_TRUE(in) << "schemas/daemon-config.schema.json is missing";
  std::stringstream text;
  text << in.rdbuf();
  auto schema = nlohmann::json::parse(text.str());
  std::map<std::string, std::string> documented;
  CollectKeys(schema["properties"], "", &documented);
  std::set<std::string> accepted;
  for (const auto& spec : DaemonConfigKeys()) {
    accepted.insert(spec.key);
    ASSERT_TRUE(documented.count(spec.key)) << spec.key << " is not in the schema";
    std::string expected;
    switch (spec.type) {
      case ConfigType::kString:
        expected = "string";
        break;
      case ConfigType::kInteger:
        expected = "integer";
        break;
      case ConfigType::kFloat:
        expected = "number";
        break;
      case ConfigType::kBool:
        expected = "boolean";
        break;
      case ConfigType::kStringList:
        expected = "array";
        break;
      case ConfigType::kDuration:
        expected = "string:duration";
        break;
    }
    EXPECT_EQ(documented[spec.key], expected) << spec.key;
  }
  for (const auto& [key, type] : documented) {
    EXPECT_TRUE(accepted.count(key)) << key << " is documented but not accepted";
  }
}

}  // namespace
}  // namespace tw::daemon
