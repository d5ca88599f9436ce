// The webhook sender against real PostgreSQL and real HTTP receivers on 127.0.0.1, with a
// simulated clock: the Svix schedule's 37 hours pass in milliseconds. Checks that a flaky
// endpoint gets one message id however often it is retried, that a dead endpoint ends
// dead-lettered with its last error, that bursts are coalesced into one signed message, that a
// destination's rate limit holds and what it held back goes out together, and that a sender
// that dies holding a lease loses the message to another sender only when the lease expires.
#include "daemon/webhook_sender.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>

#include <atomic>
#include <deque>
#include <map>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include "notify/retry.h"
#include "tests/testing/fake_clock.h"
#include "tests/testing/httplib.h"
#include "tests/testing/pg_test.h"
#include "tests/testing/status_matchers.h"

namespace tw {
namespace {

using std::chrono::hours;
using std::chrono::minutes;
using std::chrono::seconds;
using ::testing::HasSubstr;
using ::testing::SizeIs;

constexpr char kSecret[] = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw";

struct Request {
  std::string path, id, timestamp, signature, body;
};

// An HTTP endpoint whose answers are scripted per path: a queue of statuses, then 200.
class Receiver {
 public:
  Receiver() {
    server_.Post(R"(/(\w+))", [this](const httplib::Request& req, httplib::Response& res) {
      std::lock_guard<std::mutex> lock(mu_);
      requests_.push_back({req.path, req.get_header_value("webhook-id"),
                           req.get_header_value("webhook-timestamp"),
                           req.get_header_value("webhook-signature"), req.body});
      int status = 200;
      auto& script = scripts_[req.path];
      if (!script.empty()) {
        status = script.front();
        script.pop_front();
      }
      if (req.path == "/down") status = 503;
      res.status = status;
      if (status == 429) res.set_header("Retry-After", "7");
      res.set_content(status < 300 ? "ok" : "try later", "text/plain");
    });
    port_ = server_.bind_to_any_port("127.0.0.1");
    thread_ = std::thread([this] { server_.listen_after_bind(); });
    while (!server_.is_running()) std::this_thread::sleep_for(std::chrono::milliseconds(1));
  }
  ~Receiver() {
    server_.stop();
    thread_.join();
  }
  void Script(const std::string& path, std::deque<int> statuses) {
    std::lock_guard<std::mutex> lock(mu_);
    scripts_[path] = std::move(statuses);
  }
  std::vector<Request> Requests(const std::string& path) {
    std::lock_guard<std::mutex> lock(mu_);
    std::vector<Request> out;
    for (const auto& r : requests_) {
      if (r.path == path) out.push_back(r);
    }
    return out;
  }
  std::string Url(const std::string& path) const {
    return "http://127.0.0.1:" + std::to_string(port_) + path;
  }

 private:
  httplib::Server server_;
  std::thread thread_;
  int port_ = 0;
  std::mutex mu_;
  std::map<std::string, std::deque<int>> scripts_;
  std::vector<Request> requests_;
};

// The Standard Webhooks signature, checked with OpenSSL directly (not notify::Sign): base64 of
// HMAC-SHA256(key, "<id>.<timestamp>.<body>") with the key base64-decoded from the secret.
bool SignatureVerifies(const Request& r, const std::string& secret) {
  std::string key_b64 = secret.substr(6);
  std::vector<unsigned char> key(key_b64.size());
  int key_len = EVP_DecodeBlock(key.data(), reinterpret_cast<const unsigned char*>(key_b64.data()),
                                static_cast<int>(key_b64.size()));
  if (key_len < 0) return false;
  while (!key_b64.empty() && key_b64.back() == '=') {
    key_b64.pop_back();
    --key_len;
  }
  std::string content = r.id + "." + r.timestamp + "." + r.body;
  unsigned char mac[EVP_MAX_MD_SIZE];
  unsigned int mac_len = 0;
  HMAC(EVP_sha256(), key.data(), key_len, reinterpret_cast<const unsigned char*>(content.data()),
       content.size(), mac, &mac_len);
  std::string expected(4 * ((mac_len + 2) / 3) + 1, '\0');
  int n = EVP_EncodeBlock(reinterpret_cast<unsigned char*>(expected.data()), mac,
                          static_cast<int>(mac_len));
  expected.resize(static_cast<size_t>(n));
  std::string header = "v1," + expected;
  return r.signature.find(header) != std::string::npos;
}

class WebhookSenderTest : public testing::PgTest {
 protected:
  void SetUp() override {
    PgTest::SetUp();
    // Events are created at the database's now(); the simulated clock starts there.
    clock_.Advance(std::chrono::system_clock::now() - clock_.WallNow() + seconds(1));
  }

  int64_t AddWebhook(const std::string& path, const std::string& format,
                     std::vector<std::string> events = {"regression"}) {
    NewWebhook w;
    w.url = receiver_.Url(path);
    w.format = format;
    w.secrets = {kSecret};
    w.events = std::move(events);
    w.allow_private_network = true;  // the receiver is on loopback
    auto id = store_->AddWebhook(w);
    EXPECT_TRUE(id.ok()) << id.status().ToString();
    return id.ok() ? *id : 0;
  }

  // Records `n` regression events (as the transfer checks do) with deliveries to every webhook.
  std::vector<std::string> RecordEvents(int n) {
    std::vector<OutboxEvent> events;
    std::vector<std::string> ids;
    for (int i = 0; i < n; ++i) {
      int k = next_event_++;
      OutboxEvent e;
      e.event_id = "msg_TEST" + std::string(20 - std::to_string(k).size(), '0') + std::to_string(k);
      e.event_type = "regression";
      e.dedup_key = "test/" + std::to_string(k);
      e.payload_json = R"({"checkpoint":"run-a/epoch_)" + std::to_string(k) +
                       R"(.pt","run":"run-a","step":)" + std::to_string(k) +
                       R"(,"reference_checkpoint":"run-a/base.pt","reference_kinds":["baseline"],)"
                       R"("reference_dataset":"imagenet","reference_gain_points":1.2,)"
                       R"("reference_ci_low":0.4,"reference_ci_high":2.0,"reference_p":0.003,)"
                       R"("reference_n":50000,"variants":[{"dataset":"imagenet-r",)"
                       R"("reference_dataset":"imagenet","delta_points":-1.5,"ci_low":-2.3,)"
                       R"("ci_high":-0.7,"p_value":0.0004,"p_holm":0.002,"n":10000,)"
                       R"("discordant":480}],"cli_hint":"transferwatch flags"})";
      ids.push_back(e.event_id);
      events.push_back(std::move(e));
    }
    auto recorded = store_->RecordTransferChecks({}, events);
    EXPECT_TRUE(recorded.ok()) << recorded.status().ToString();
    return ids;
  }

  SendSummary Send(WebhookSender& sender) {
    auto sent = sender.SendDue(*store_, NextToken());
    EXPECT_TRUE(sent.ok()) << sent.status().ToString();
    return sent.ok() ? *sent : SendSummary{};
  }

  std::string NextToken() {
    char buf[33];
    std::snprintf(buf, sizeof buf, "%032x", ++tokens_);
    return buf;
  }

  std::vector<DeliveryInfo> Deliveries(int64_t webhook) {
    auto list = store_->ListDeliveries(webhook, std::nullopt, 100);
    EXPECT_TRUE(list.ok()) << list.status().ToString();
    return list.ok() ? *list : std::vector<DeliveryInfo>{};
  }

  testing::FakeClock clock_;
  Receiver receiver_;
  int next_event_ = 1;
  unsigned tokens_ = 0;
};

TEST_F(WebhookSenderTest, FailsThreeTimesThenSucceedsWithOneMessageId) {
  int64_t hook = AddWebhook("/flaky", "slack");
  receiver_.Script("/flaky", {500, 502, 503});
  auto events = RecordEvents(1);
  WebhookSender sender(clock_, WebhookSenderOptions{});

  // The Svix schedule: at once, then 5 s, 5 min, 30 min after each failure.
  for (auto wait : {seconds(5), seconds(300), seconds(1800)}) {
    EXPECT_EQ(Send(sender).retrying, 1);
    clock_.Advance(wait - seconds(1));
    EXPECT_EQ(Send(sender).messages, 0) << "sent before its retry was due";
    clock_.Advance(seconds(1));
  }
  SendSummary last = Send(sender);
  EXPECT_EQ(last.delivered, 1);
  clock_.Advance(hours(20));
  EXPECT_EQ(Send(sender).messages, 0) << "a delivered message is never sent again";

  auto requests = receiver_.Requests("/flaky");
  ASSERT_THAT(requests, SizeIs(4));
  for (const auto& r : requests) {
    EXPECT_EQ(r.id, events[0]) << "the webhook-id is stable across retries";
    EXPECT_TRUE(SignatureVerifies(r, kSecret)) << r.signature;
    EXPECT_FALSE(SignatureVerifies(r, "whsec_C2FVsBQIhrscChlQIMV+b5sSYspob7oD"));
  }
  auto deliveries = Deliveries(hook);
  ASSERT_THAT(deliveries, SizeIs(1));
  EXPECT_EQ(deliveries[0].state, "delivered");
  EXPECT_EQ(deliveries[0].attempts, 4);
  EXPECT_EQ(deliveries[0].message_id, events[0]);
  EXPECT_EQ(deliveries[0].last_status, 200);
}

TEST_F(WebhookSenderTest, AlwaysFailingEndpointIsDeadLetteredWithItsLastError) {
  int64_t hook = AddWebhook("/down", "generic");
  RecordEvents(1);
  WebhookSender sender(clock_, WebhookSenderOptions{});
  int attempts = 0;
  auto start = clock_.WallNow();
  for (int round = 0; round < 40 && attempts < notify::kMaxAttempts + 2; ++round) {
    attempts += Send(sender).messages;
    clock_.Advance(hours(1));
  }
  EXPECT_EQ(attempts, notify::kMaxAttempts);
  EXPECT_THAT(receiver_.Requests("/down"), SizeIs(notify::kMaxAttempts));
  // 5 s + 5 min + 30 min + 2 h + 5 h + 10 h + 10 h of simulated time, without sleeping.
  EXPECT_GE(clock_.WallNow() - start, hours(27));
  auto deliveries = Deliveries(hook);
  ASSERT_THAT(deliveries, SizeIs(1));
  EXPECT_EQ(deliveries[0].state, "dead");
  EXPECT_EQ(deliveries[0].attempts, notify::kMaxAttempts);
  EXPECT_EQ(deliveries[0].last_status, 503);
  EXPECT_THAT(deliveries[0].last_error.value_or(""), HasSubstr("HTTP 503: try later"));
}

TEST_F(WebhookSenderTest, RetryAfterIsHonoured) {
  AddWebhook("/limited", "slack");
  receiver_.Script("/limited", {429});
  RecordEvents(1);
  WebhookSender sender(clock_, WebhookSenderOptions{});
  EXPECT_EQ(Send(sender).retrying, 1);
  clock_.Advance(seconds(6));  // the schedule says 5 s; the endpoint asked for 7
  EXPECT_EQ(Send(sender).messages, 0);
  clock_.Advance(seconds(1));
  EXPECT_EQ(Send(sender).delivered, 1);
}

TEST_F(WebhookSenderTest, BurstIsCoalescedIntoOneSignedChatMessage) {
  int64_t slack = AddWebhook("/slack", "slack");
  int64_t generic = AddWebhook("/generic", "generic");
  auto events = RecordEvents(5);
  WebhookSender sender(clock_, WebhookSenderOptions{});
  SendSummary sent = Send(sender);
  EXPECT_EQ(sent.messages, 1 + 5) << "one chat message, and one request per event for generic";
  EXPECT_EQ(sent.events, 10);
  EXPECT_EQ(sent.delivered, 6);

  auto chat = receiver_.Requests("/slack");
  ASSERT_THAT(chat, SizeIs(1));
  EXPECT_THAT(chat[0].body, HasSubstr("5 TransferWatch alerts: 5 regressions"));
  for (const auto& id : events) EXPECT_EQ(chat[0].id.find(id), std::string::npos);
  EXPECT_TRUE(SignatureVerifies(chat[0], kSecret));
  for (int k = 1; k <= 5; ++k) {
    EXPECT_THAT(chat[0].body, HasSubstr("run-a/epoch_" + std::to_string(k) + ".pt"));
  }
  auto rows = Deliveries(slack);
  ASSERT_THAT(rows, SizeIs(5));
  for (const auto& d : rows) {
    EXPECT_EQ(d.state, "delivered");
    EXPECT_EQ(d.message_id, chat[0].id) << "every event knows the message that carried it";
  }
  auto machine = receiver_.Requests("/generic");
  ASSERT_THAT(machine, SizeIs(5));
  for (const auto& r : machine) EXPECT_TRUE(SignatureVerifies(r, kSecret));
  for (const auto& d : Deliveries(generic)) EXPECT_EQ(d.message_id, d.event_id);
}

TEST_F(WebhookSenderTest, RateLimitHoldsEventsAndSendsThemTogetherWhenItFrees) {
  AddWebhook("/slack", "slack");
  WebhookSenderOptions options;
  options.max_messages_per_minute = 2;
  WebhookSender sender(clock_, options);
  RecordEvents(1);
  EXPECT_EQ(Send(sender).delivered, 1);
  clock_.Advance(seconds(10));
  RecordEvents(1);
  EXPECT_EQ(Send(sender).delivered, 1);
  clock_.Advance(seconds(10));
  RecordEvents(3);
  EXPECT_EQ(Send(sender).messages, 0) << "two messages in the last minute already";
  clock_.Advance(seconds(41));  // the first message leaves the window
  SendSummary freed = Send(sender);
  EXPECT_EQ(freed.messages, 1);
  EXPECT_EQ(freed.events, 3);
  auto requests = receiver_.Requests("/slack");
  ASSERT_THAT(requests, SizeIs(3));
  EXPECT_THAT(requests[2].body, HasSubstr("3 TransferWatch alerts"));
}

TEST_F(WebhookSenderTest, RetriedMessageKeepsItsIdAndEventsWhileNewEventsGoSeparately) {
  int64_t hook = AddWebhook("/chat", "discord");
  receiver_.Script("/chat", {500});
  RecordEvents(2);
  WebhookSender sender(clock_, WebhookSenderOptions{});
  EXPECT_EQ(Send(sender).retrying, 1);
  RecordEvents(1);  // arrives while the first message waits for its retry
  SendSummary now = Send(sender);
  EXPECT_EQ(now.messages, 1);
  EXPECT_EQ(now.events, 1);
  clock_.Advance(seconds(5));
  SendSummary retry = Send(sender);
  EXPECT_EQ(retry.messages, 1);
  EXPECT_EQ(retry.events, 2);
  auto requests = receiver_.Requests("/chat");
  ASSERT_THAT(requests, SizeIs(3));
  EXPECT_EQ(requests[0].id, requests[2].id);
  EXPECT_EQ(requests[0].body, requests[2].body);
  EXPECT_NE(requests[1].id, requests[0].id);
  for (const auto& d : Deliveries(hook)) EXPECT_EQ(d.state, "delivered");
}

TEST_F(WebhookSenderTest, DeadSendersLeaseExpiresBeforeAnotherSenderTakesTheMessage) {
  AddWebhook("/slack", "slack");
  RecordEvents(1);
  // A sender claims and dies before sending (killed between claim and delivery).
  MessageClaim claim;
  claim.lease_token = std::string(32, 'a');
  claim.now = clock_.WallNow();
  claim.lease = seconds(60);
  auto claimed = store_->ClaimDueMessages(claim);
  ASSERT_TRUE(claimed.ok()) << claimed.status().ToString();
  ASSERT_THAT(*claimed, SizeIs(1));

  WebhookSender survivor(clock_, WebhookSenderOptions{});
  EXPECT_EQ(Send(survivor).messages, 0) << "the lease still holds";
  clock_.Advance(seconds(61));
  EXPECT_EQ(Send(survivor).delivered, 1);
  // The dead sender's late outcome is refused.
  DeliveryUpdate late{"delivered", clock_.WallNow(), clock_.WallNow(), 200, std::nullopt};
  EXPECT_THAT(store_->FinishMessage((*claimed)[0], claim.lease_token, late),
              testing::StatusIs(StatusCode::kFailedPrecondition, HasSubstr("no longer held")));
  EXPECT_THAT(receiver_.Requests("/slack"), SizeIs(1));
}

}  // namespace
}  // namespace tw
