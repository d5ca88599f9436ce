// Webhook destinations as an SSRF vector (research W4, W5; MLflow CVE-2026-2393, CVE-2023-6974):
// the daemon's own sender (WebhookSender, real PostgreSQL, real HTTP on 127.0.0.1) given
// destinations that name internal addresses in every spelling. Each must end refused at send
// time on the resolved address, naming the refused range, with the receiver that listens on
// 127.0.0.1 never reached; the per-webhook allow_private_network switch (the only allow-list)
// opens exactly that webhook. A redirect to the metadata address is recorded as a failed
// attempt, never followed. The address checks themselves are unit-tested in
// tests/unit/notify/destination_test.cc and Deliver's in tests/integration/notify/sender_test.cc;
// this is the path a stored webhook takes.
#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <atomic>
#include <map>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include "common/clock.h"
#include "daemon/webhook_sender.h"
#include "tests/testing/cli.h"
#include "tests/testing/httplib.h"
#include "tests/testing/pg_test.h"

namespace tw {
namespace {

using ::testing::AllOf;
using ::testing::HasSubstr;
using ::testing::Not;

constexpr char kSecret[] = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw";

// A receiver on 127.0.0.1 that counts every request, whatever its path or method.
class Receiver {
 public:
  Receiver() {
    auto count = [this](const httplib::Request& req, httplib::Response& res) {
      {
        std::lock_guard<std::mutex> lock(mu_);
        ++hits_[req.method + " " + req.path];
      }
      if (req.path == "/redirect") {
        res.status = 302;
        res.set_header("Location", "http://169.254.169.254/latest/meta-data/");
        return;
      }
      res.set_content("ok", "text/plain");
    };
    server_.Get(".*", count);
    server_.Post(".*", count);
    port_ = server_.bind_to_any_port("127.0.0.1");
    thread_ = std::thread([this] { server_.listen_after_bind(); });
    while (!server_.is_running()) std::this_thread::sleep_for(std::chrono::milliseconds(1));
  }
  ~Receiver() {
    server_.stop();
    thread_.join();
  }
  int port() const { return port_; }
  std::map<std::string, int> hits() {
    std::lock_guard<std::mutex> lock(mu_);
    return hits_;
  }

 private:
  httplib::Server server_;
  std::thread thread_;
  int port_ = 0;
  std::mutex mu_;
  std::map<std::string, int> hits_;
};

class WebhookSsrfTest : public testing::PgTest {
 protected:
  int64_t AddWebhook(const std::string& url, bool allow_private) {
    NewWebhook w;
    w.url = url;
    w.format = "generic";
    w.secrets = {kSecret};
    w.events = {"regression"};
    w.allow_private_network = allow_private;
    auto id = store_->AddWebhook(w);
    EXPECT_TRUE(id.ok()) << url << ": " << id.status().ToString();
    return id.ok() ? *id : 0;
  }

  // One regression event, queued for every webhook.
  void RecordEvent() {
    OutboxEvent e;
    e.event_id = "msg_SECURITY00000000000000001";
    e.event_type = "regression";
    e.dedup_key = "security/1";
    e.payload_json = R"({"checkpoint":"run-a/epoch_2.pt","run":"run-a","step":2,)"
                     R"("reference_checkpoint":"run-a/base.pt","reference_kinds":["baseline"],)"
                     R"("reference_dataset":"imagenet","reference_gain_points":1.2,)"
                     R"("reference_ci_low":0.4,"reference_ci_high":2.0,"reference_p":0.003,)"
                     R"("reference_n":50000,"variants":[],"cli_hint":"transferwatch flags"})";
    auto recorded = store_->RecordTransferChecks({}, {e});
    ASSERT_TRUE(recorded.ok()) << recorded.status().ToString();
  }

  // Sends until every delivery has had its first attempt (a round takes at most 16 messages).
  void SendFirstAttempts() {
    WebhookSenderOptions options;
    options.timeout = std::chrono::milliseconds(3000);
    WebhookSender sender(RealClock(), options);
    for (int round = 0; round < 10; ++round) {
      char token[33];
      std::snprintf(token, sizeof token, "%032x", round + 1);
      auto sent = sender.SendDue(*store_, token);
      ASSERT_TRUE(sent.ok()) << sent.status().ToString();
      if (sent->messages == 0) break;
    }
  }

  DeliveryInfo DeliveryOf(int64_t webhook) {
    auto list = store_->ListDeliveries(webhook, std::nullopt, 10);
    EXPECT_TRUE(list.ok()) << list.status().ToString();
    if (!list.ok() || list->size() != 1) {
      ADD_FAILURE() << "webhook " << webhook << " has no single delivery";
      return DeliveryInfo{};
    }
    return list->front();
  }
};

TEST_F(WebhookSsrfTest, InternalDestinationsInEverySpellingAreRefusedAtSendTimeNamingTheRange) {
  Receiver receiver;
  const std::string port = std::to_string(receiver.port());
  struct Case {
    std::string host;   // as written in the URL
    std::string range;  // what the refusal names
  };
  // The loopback spellings carry the receiver's port: reaching it would be the SSRF.
  const std::vector<Case> cases = {
      {"127.0.0.1:" + port, "loopback"},
      {"localhost:" + port, "loopback"},
      {"0.0.0.0:" + port, "0.0.0.0/8"},  // Linux connects 0.0.0.0 to this host
      {"127.1:" + port, "loopback"},
      {"2130706433:" + port, "loopback"},
      {"0177.0.0.1:" + port, "loopback"},
      {"0x7f.1:" + port, "loopback"},
      {"0x7f000001:" + port, "loopback"},
      {"[::1]:" + port, "loopback ::1"},
      {"[::ffff:127.0.0.1]:" + port, "loopback"},
      {"[::ffff:7f00:1]:" + port, "loopback"},
      {"10.0.0.5", "private 10.0.0.0/8"},
      {"172.16.0.1", "private 172.16.0.0/12"},
      {"192.168.1.1", "private 192.168.0.0/16"},
      {"169.254.169.254", "cloud metadata"},
      {"100.64.0.1", "CGNAT"},
      {"[fe80::1]", "link-local fe80::/10"},
      {"[fc00::1]", "unique local fc00::/7"},
      {"[fd00:ec2::254]", "cloud metadata"},
      {"[::ffff:169.254.169.254]", "cloud metadata"},
  };
  std::vector<std::pair<int64_t, Case>> hooks;
  for (const Case& c : cases) {
    hooks.emplace_back(AddWebhook("http://" + c.host + "/hook?token=CANARY", false), c);
  }
  RecordEvent();
  SendFirstAttempts();
  for (const auto& [id, c] : hooks) {
    SCOPED_TRACE(c.host);
    DeliveryInfo d = DeliveryOf(id);
    EXPECT_NE(d.state, "delivered");
    EXPECT_EQ(d.attempts, 1);
    EXPECT_FALSE(d.last_status.has_value()) << *d.last_status;
    EXPECT_THAT(d.last_error.value_or(""),
                AllOf(HasSubstr("refused range"), HasSubstr(c.range), Not(HasSubstr("CANARY"))));
  }
  EXPECT_TRUE(receiver.hits().empty()) << "the receiver on 127.0.0.1 was reached";
}

TEST_F(WebhookSsrfTest, AllowPrivateNetworkOpensOnlyItsOwnWebhook) {
  Receiver receiver;
  const std::string url = "http://127.0.0.1:" + std::to_string(receiver.port()) + "/hook";
  const int64_t guarded = AddWebhook(url, false);
  const int64_t allowed = AddWebhook(url, true);
  RecordEvent();
  SendFirstAttempts();
  EXPECT_THAT(DeliveryOf(guarded).last_error.value_or(""), HasSubstr("loopback"));
  EXPECT_NE(DeliveryOf(guarded).state, "delivered");
  EXPECT_EQ(DeliveryOf(allowed).state, "delivered");
  EXPECT_EQ(receiver.hits(), (std::map<std::string, int>{{"POST /hook", 1}}));
}

// W4: a 302 to the metadata address is a failed attempt that says why; the Location is never
// requested (the receiver would see GET /latest/meta-data/: it listens on the only address a
// followed redirect could reach from here).
TEST_F(WebhookSsrfTest, RedirectIsAFailedAttemptAndIsNeverFollowed) {
  Receiver receiver;
  const int64_t hook =
      AddWebhook("http://127.0.0.1:" + std::to_string(receiver.port()) + "/redirect", true);
  RecordEvent();
  SendFirstAttempts();
  DeliveryInfo d = DeliveryOf(hook);
  EXPECT_EQ(d.state, "pending") << "a redirect is retried like any failure, then dead-lettered";
  EXPECT_EQ(d.attempts, 1);
  EXPECT_EQ(d.last_status, 302);
  EXPECT_THAT(d.last_error.value_or(""),
              AllOf(HasSubstr("redirect not followed"), HasSubstr("not allowed")));
  EXPECT_EQ(receiver.hits(), (std::map<std::string, int>{{"POST /redirect", 1}}));
}

// Below the CLI: the database itself refuses a stored URL that is not http(s) (a CHECK
// constraint), and one that carries credentials, which the database takes, is dead at once at
// send time: nothing a retry could fix, nothing dialled.
TEST_F(WebhookSsrfTest, StoredUrlsOfOtherSchemesAreRefusedAndUserinfoIsDeadAtOnce) {
  Receiver receiver;
  const std::string port = std::to_string(receiver.port());
  for (const std::string& url : std::vector<std::string>{
           "file:///etc/passwd", "gopher://127.0.0.1:" + port + "/_POST%20/hook",
           "dict://127.0.0.1:" + port + "/", "ftp://127.0.0.1:" + port + "/"}) {
    NewWebhook w;
    w.url = url;
    w.format = "generic";
    w.secrets = {kSecret};
    w.events = {"regression"};
    w.allow_private_network = true;
    EXPECT_FALSE(store_->AddWebhook(w).ok()) << url;
  }
  std::vector<int64_t> hooks;
  for (const std::string& url :
       std::vector<std::string>{"http://user:pass@127.0.0.1:" + port + "/hook",
                                "http://127.0.0.1:" + port + "@attacker.example/hook"}) {
    hooks.push_back(AddWebhook(url, true));
  }
  RecordEvent();
  SendFirstAttempts();
  for (int64_t id : hooks) {
    DeliveryInfo d = DeliveryOf(id);
    EXPECT_EQ(d.state, "dead") << id;
    EXPECT_EQ(d.attempts, 1) << id;
    EXPECT_THAT(d.last_error.value_or(""), HasSubstr("user information")) << id;
  }
  EXPECT_TRUE(receiver.hits().empty());
}

// Config time: `transferwatch webhook add` refuses the same URLs before storing them.
TEST_F(WebhookSsrfTest, WebhookAddRefusesNonHttpSchemesAndUserinfo) {
  for (const std::string url :
       {"file:///etc/passwd", "gopher://127.0.0.1:70/_x", "dict://127.0.0.1:11211/",
        "javascript:alert(1)", "http://user:pass@hooks.example.com/x",
        "http://hooks.example.com@169.254.169.254/", "//169.254.169.254/", "http://[::1/"}) {
    ProcessResult added = ::tw::testing::RunCli(
        {"--database", db_->conninfo(), "webhook", "add", url, "--format", "generic"});
    EXPECT_EQ(added.exit_code, 2) << url << ": " << added.output;
    EXPECT_THAT(added.output, HasSubstr("webhook URL")) << url;
  }
  auto hooks = store_->ListWebhooks();
  ASSERT_TRUE(hooks.ok());
  EXPECT_TRUE(hooks->empty());
}

}  // namespace
}  // namespace tw
