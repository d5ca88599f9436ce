// `transferwatch webhook add|list|remove|test|deliveries|replay` against a real PostgreSQL, with
// a real HTTP receiver on 127.0.0.1 for `webhook test`.
#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <sys/stat.h>

#include <chrono>
#include <mutex>
#include <nlohmann/json.hpp>
#include <string>
#include <thread>
#include <vector>

#include "notify/signing.h"
#include "store/pg_admin.h"
#include "tests/testing/cli.h"
#include "tests/testing/httplib.h"
#include "tests/testing/pg_test.h"
#include "tests/testing/status_matchers.h"
#include "tests/testing/temp_dir.h"

namespace tw {
namespace {

using ::testing::HasSubstr;
using ::testing::Not;
using ::testing::StartsWith;
using ::tw::testing::TempDir;
using ::tw::testing::WriteTestFile;

constexpr const char* kTokenPath = "/hooks/T000/B000/s3cr3t-path-token";

// Records every POST it gets; answers `status`.
class Receiver {
 public:
  explicit Receiver(int status = 200) {
    server_.Post(".*", [this, status](const httplib::Request& req, httplib::Response& res) {
      std::lock_guard<std::mutex> lock(mu_);
      requests_.push_back(req);
      res.status = status;
      res.set_content("{\"ok\":true}", "application/json");
    });
    port_ = server_.bind_to_any_port("127.0.0.1");
    thread_ = std::thread([this] { server_.listen_after_bind(); });
    while (!server_.is_running()) std::this_thread::sleep_for(std::chrono::milliseconds(1));
  }
  ~Receiver() {
    server_.stop();
    thread_.join();
  }
  std::string Url() const { return "http://127.0.0.1:" + std::to_string(port_) + kTokenPath; }
  std::vector<httplib::Request> Requests() {
    std::lock_guard<std::mutex> lock(mu_);
    return requests_;
  }

 private:
  httplib::Server server_;
  int port_ = 0;
  std::thread thread_;
  std::mutex mu_;
  std::vector<httplib::Request> requests_;
};

class CliWebhookTest : public ::tw::testing::PgTest {
 protected:
  std::vector<std::string> WithDb(std::vector<std::string> args) {
    args.insert(args.begin(), {"--database", db_->conninfo()});
    return args;
  }
  ProcessResult Cli(std::vector<std::string> args) {
    return ::tw::testing::RunCli(WithDb(std::move(args)));
  }
  nlohmann::json Json(std::vector<std::string> args) {
    return ::tw::testing::RunCliJson(WithDb(std::move(args)));
  }
  std::string SecretFile(TempDir& dir, const std::string& name, mode_t mode) {
    auto secret = notify::GenerateSecret();
    EXPECT_TRUE(secret.ok());
    const std::string path = dir.Sub(name);
    WriteTestFile(path, *secret + "\n");
    ::chmod(path.c_str(), mode);
    secret_ = *secret;
    return path;
  }
  std::string secret_;
};

TEST_F(CliWebhookTest, AddWithGeneratedSecretShowsItOnceAndListRedacts) {
  const std::string url = std::string("https://hooks.slack.com") + kTokenPath;
  nlohmann::json added =
      Json({"webhook", "add", url, "--format", "slack", "--events", "regression,no-transfer"});
  ASSERT_TRUE(added.contains("secret")) << added.dump();
  const std::string secret = added["secret"];
  EXPECT_THAT(secret, StartsWith("whsec_"));
  TW_EXPECT_OK(notify::DecodeSecret(secret).status());
  EXPECT_EQ(added["url_redacted"], "https://hooks.slack.com/***");
  EXPECT_EQ(added["format"], "slack");
  EXPECT_EQ(added["events"], nlohmann::json::array({"regression", "no-transfer"}));
  EXPECT_EQ(added["allow_private_network"], false);

  ProcessResult table = Cli({"webhook", "add", url, "--format", "Discord"});
  ASSERT_TRUE(table.ok()) << table.output;
  EXPECT_THAT(table.output, HasSubstr("added: https://hooks.slack.com/*** (discord, regression)"));
  EXPECT_THAT(table.output, HasSubstr("secret: whsec_"));
  EXPECT_THAT(table.output, HasSubstr("shown once"));
  EXPECT_THAT(table.output, Not(HasSubstr("s3cr3t")));

  nlohmann::json list = Json({"webhook", "list"});
  ASSERT_EQ(list["webhooks"].size(), 2u) << list.dump();
  EXPECT_EQ(list["webhooks"][0]["url"], "https://hooks.slack.com/***");
  EXPECT_EQ(list["webhooks"][0]["events"], "regression,no-transfer");
  EXPECT_EQ(list["webhooks"][0]["secrets"], 1);
  EXPECT_EQ(list["webhooks"][1]["format"], "discord");
  for (auto format : {"table", "json", "csv"}) {
    ProcessResult out = Cli({"--format", format, "webhook", "list"});
    ASSERT_TRUE(out.ok()) << out.output;
    EXPECT_THAT(out.output, Not(HasSubstr("whsec_"))) << format;
    EXPECT_THAT(out.output, Not(HasSubstr(secret))) << format;
    EXPECT_THAT(out.output, Not(HasSubstr("s3cr3t"))) << format;
    EXPECT_THAT(out.output, Not(HasSubstr("/hooks/"))) << format;
  }

  const int64_t id = list["webhooks"][0]["id"];
  ProcessResult removed = Cli({"webhook", "remove", std::to_string(id)});
  ASSERT_TRUE(removed.ok()) << removed.output;
  EXPECT_THAT(removed.output, HasSubstr("webhook " + std::to_string(id) + " removed"));
  EXPECT_EQ(Json({"webhook", "list"})["webhooks"].size(), 1u);
}

TEST_F(CliWebhookTest, AddWithSecretFileChecksItsMode) {
  TempDir dir;
  nlohmann::json added = Json({"webhook", "add", "https://example.com/hook", "--format", "generic",
                               "--secret-file", SecretFile(dir, "ok", 0600)});
  EXPECT_FALSE(added.contains("secret")) << added.dump();
  TW_ASSERT_OK_AND_ASSIGN(auto webhooks, store_->ListWebhooks());
  ASSERT_EQ(webhooks.size(), 1u);
  EXPECT_EQ(webhooks[0].secrets, std::vector<std::string>{secret_});

  ProcessResult open = Cli({"webhook", "add", "https://example.com/hook", "--format", "generic",
                            "--secret-file", SecretFile(dir, "open", 0644)});
  EXPECT_NE(open.exit_code, 0);
  EXPECT_THAT(open.output, HasSubstr("mode 0644"));
  EXPECT_THAT(open.output, HasSubstr("chmod 600"));

  const std::string bad = dir.Sub("bad");
  WriteTestFile(bad, "not-a-secret\n");
  ::chmod(bad.c_str(), 0600);
  ProcessResult invalid = Cli(
      {"webhook", "add", "https://example.com/hook", "--format", "generic", "--secret-file", bad});
  EXPECT_EQ(invalid.exit_code, 2) << invalid.output;
  EXPECT_THAT(invalid.output, HasSubstr("webhook secret file"));
  EXPECT_EQ(store_->ListWebhooks()->size(), 1u);
}

TEST_F(CliWebhookTest, InvalidArgumentsExitTwoAndUnknownIdsThree) {
  ProcessResult url = Cli({"webhook", "add", "ftp://example.com/x", "--format", "slack"});
  EXPECT_EQ(url.exit_code, 2) << url.output;
  EXPECT_THAT(url.output, HasSubstr("webhook URL"));
  ProcessResult format = Cli({"webhook", "add", "https://example.com/x", "--format", "irc"});
  EXPECT_EQ(format.exit_code, 2) << format.output;
  EXPECT_THAT(format.output, HasSubstr("--format"));
  EXPECT_THAT(format.output, HasSubstr("irc"));
  ProcessResult events = Cli({"webhook", "add", "https://example.com/x", "--format", "slack",
                              "--events", "regression,bogus"});
  EXPECT_EQ(events.exit_code, 2) << events.output;
  EXPECT_THAT(events.output, HasSubstr("--events: unknown event type 'bogus'"));
  ProcessResult state = Cli({"webhook", "deliveries", "--state", "lost"});
  EXPECT_EQ(state.exit_code, 2) << state.output;
  ProcessResult replay = Cli({"webhook", "replay"});
  EXPECT_EQ(replay.exit_code, 2) << replay.output;
  EXPECT_TRUE(store_->ListWebhooks()->empty());

  ProcessResult remove = Cli({"webhook", "remove", "999"});
  EXPECT_EQ(remove.exit_code, 3) << remove.output;
  EXPECT_THAT(remove.output, HasSubstr("999"));
  ProcessResult test = Cli({"webhook", "test", "999"});
  EXPECT_EQ(test.exit_code, 3) << test.output;
  ProcessResult replay_id = Cli({"webhook", "replay", "999"});
  EXPECT_EQ(replay_id.exit_code, 3) << replay_id.output;
}

TEST_F(CliWebhookTest, TestSendsASignedMessage) {
  Receiver receiver;
  nlohmann::json added =
      Json({"webhook", "add", receiver.Url(), "--format", "generic", "--allow-private-network"});
  const std::string secret = added["secret"];
  const std::string id = std::to_string(added["id"].get<int64_t>());

  ProcessResult out = Cli({"webhook", "test", id});
  ASSERT_TRUE(out.ok()) << out.output;
  EXPECT_THAT(out.output, HasSubstr("HTTP 200"));
  EXPECT_THAT(out.output, HasSubstr(" ms"));
  EXPECT_THAT(out.output, HasSubstr("{\"ok\":true}"));
  EXPECT_THAT(out.output, Not(HasSubstr("s3cr3t")));

  auto requests = receiver.Requests();
  ASSERT_EQ(requests.size(), 1u);
  const httplib::Request& req = requests[0];
  EXPECT_EQ(req.path, kTokenPath);
  const std::string msg_id = req.get_header_value("webhook-id");
  const std::string timestamp = req.get_header_value("webhook-timestamp");
  const std::string signature = req.get_header_value("webhook-signature");
  EXPECT_THAT(msg_id, StartsWith("msg_"));
  ASSERT_FALSE(timestamp.empty());
  EXPECT_THAT(req.get_header_value("Content-Type"), HasSubstr("application/json"));
  ASSERT_FALSE(req.body.empty());
  TW_ASSERT_OK_AND_ASSIGN(std::string expected,
                          notify::Sign({secret}, msg_id, std::stoll(timestamp), req.body));
  EXPECT_EQ(signature, expected);
  nlohmann::json body = nlohmann::json::parse(req.body);
  EXPECT_EQ(body["type"], "transferwatch.test") << req.body;
  EXPECT_EQ(body["data"]["checkpoint"], "example/step_100.pt");
  EXPECT_EQ(body["data"]["event_id"], msg_id);
  EXPECT_THAT(body["data"]["cli_hint"].get<std::string>(), HasSubstr("TEST"));

  // JSON output carries the same facts.
  nlohmann::json json = Json({"webhook", "test", id});
  EXPECT_EQ(json["http_status"], 200);
  EXPECT_EQ(receiver.Requests().size(), 2u);
}

TEST_F(CliWebhookTest, TestFailsOnANon2xxAnswer) {
  Receiver receiver(500);
  nlohmann::json added =
      Json({"webhook", "add", receiver.Url(), "--format", "slack", "--allow-private-network"});
  ProcessResult out = Cli({"webhook", "test", std::to_string(added["id"].get<int64_t>())});
  EXPECT_EQ(out.exit_code, 4) << out.output;
  EXPECT_THAT(out.output, HasSubstr("HTTP 500"));
  EXPECT_EQ(receiver.Requests().size(), 1u);
}

TEST_F(CliWebhookTest, TestRefusesAPrivateAddressUnlessAllowed) {
  Receiver receiver;
  nlohmann::json added = Json({"webhook", "add", receiver.Url(), "--format", "generic"});
  ProcessResult out = Cli({"webhook", "test", std::to_string(added["id"].get<int64_t>())});
  EXPECT_EQ(out.exit_code, 1) << out.output;
  EXPECT_THAT(out.output, HasSubstr("refused"));
  EXPECT_THAT(out.output, HasSubstr("loopback"));
  EXPECT_THAT(out.output, HasSubstr("--allow-private-network"));
  EXPECT_THAT(out.output, Not(HasSubstr("s3cr3t")));
  EXPECT_TRUE(receiver.Requests().empty());
}

TEST_F(CliWebhookTest, DeliveriesListAndReplayDeadOnes) {
  nlohmann::json added = Json({"webhook", "add", "https://example.com/hook", "--format", "generic",
                               "--events", "regression"});
  const int64_t webhook_id = added["id"];
  const std::string event_id = notify::NewMessageId();
  TW_ASSERT_OK(store_
                   ->RecordTransferChecks(
                       {}, {OutboxEvent{event_id, "regression", "dedup-1", "{\"test\":true}"}})
                   .status());

  nlohmann::json pending = Json({"webhook", "deliveries", "--state", "pending"});
  ASSERT_EQ(pending["deliveries"].size(), 1u) << pending.dump();
  EXPECT_EQ(pending["deliveries"][0]["webhook_id"], webhook_id);
  EXPECT_EQ(pending["deliveries"][0]["event_id"], event_id);
  EXPECT_EQ(pending["deliveries"][0]["event_type"], "regression");
  EXPECT_TRUE(Json({"webhook", "deliveries", "--state", "dead"})["deliveries"].empty());

  TW_ASSERT_OK(ExecuteSql(db_->conninfo(),
                          "UPDATE tw.deliveries SET state='dead', attempts=8, last_status=500, "
                          "last_error='the receiver answered HTTP 500 for the eighth time in a "
                          "row, so this message is dead-lettered'"));
  nlohmann::json dead = Json({"webhook", "deliveries", "--state", "dead"});
  ASSERT_EQ(dead["deliveries"].size(), 1u) << dead.dump();
  EXPECT_EQ(dead["deliveries"][0]["state"], "dead");
  EXPECT_EQ(dead["deliveries"][0]["attempts"], 8);
  EXPECT_EQ(dead["deliveries"][0]["last_status"], 500);
  ProcessResult table = Cli({"webhook", "deliveries", "--state", "dead"});
  ASSERT_TRUE(table.ok()) << table.output;
  EXPECT_THAT(table.output, HasSubstr(event_id));
  EXPECT_THAT(table.output, HasSubstr("..."));
  EXPECT_THAT(table.output, Not(HasSubstr("dead-lettered")));
  EXPECT_TRUE(
      Json({"webhook", "deliveries", "--webhook", std::to_string(webhook_id + 1)})["deliveries"]
          .empty());

  ProcessResult replay = Cli({"webhook", "replay", "--dead"});
  ASSERT_TRUE(replay.ok()) << replay.output;
  EXPECT_THAT(replay.output, HasSubstr("1 delivery(ies) queued again"));
  EXPECT_TRUE(Json({"webhook", "deliveries", "--state", "dead"})["deliveries"].empty());
  nlohmann::json again = Json({"webhook", "deliveries", "--state", "pending"});
  ASSERT_EQ(again["deliveries"].size(), 1u);
  EXPECT_EQ(again["deliveries"][0]["attempts"], 0);

  const std::string delivery_id = std::to_string(again["deliveries"][0]["id"].get<int64_t>());
  ProcessResult by_id = Cli({"webhook", "replay", delivery_id});
  ASSERT_TRUE(by_id.ok()) << by_id.output;
  EXPECT_THAT(by_id.output, HasSubstr("1 delivery(ies) queued again"));
}

}  // namespace
}  // namespace tw
