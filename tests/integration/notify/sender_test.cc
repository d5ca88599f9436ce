// Deliver() against real HTTP servers on 127.0.0.1 (port 0, allow_private=true): headers and
// the Standard Webhooks signature (re-verified by Python's hmac), redirects, timeouts,
// malformed answers, Retry-After, bounded response reading, and the SSRF refusals.
#include "notify/sender.h"

#include <arpa/inet.h>
#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include "common/process.h"
#include "notify/render.h"
#include "notify/retry.h"
#include "notify/signing.h"
#include "tests/testing/httplib.h"
#include "tests/testing/status_matchers.h"

namespace tw::notify {
namespace {

using std::chrono::milliseconds;
using ::testing::HasSubstr;
using ::testing::Not;
using ::tw::testing::StatusIs;

struct Received {
  std::string method, path, host, content_type, id, timestamp, signature, body;
};

class Receiver {
 public:
  Receiver() {
    server_.Post("/hook", [this](const httplib::Request& req, httplib::Response& res) {
      std::lock_guard<std::mutex> lock(mu_);
      received_.push_back({req.method, req.path + (req.params.empty() ? "" : "?x"),
                           req.get_header_value("Host"), req.get_header_value("Content-Type"),
                           req.get_header_value("webhook-id"),
                           req.get_header_value("webhook-timestamp"),
                           req.get_header_value("webhook-signature"), req.body});
      res.set_content("thanks", "text/plain");
    });
    server_.Post("/redirect", [this](const httplib::Request&, httplib::Response& res) {
      ++redirect_hits_;
      res.status = 302;
      res.set_header("Location", "http://169.254.169.254/latest/meta-data/");
    });
    server_.Get("/latest/meta-data/",
                [this](const httplib::Request&, httplib::Response&) { ++followed_; });
    server_.Post("/slow", [this](const httplib::Request&, httplib::Response& res) {
      std::unique_lock<std::mutex> lock(mu_);
      cv_.wait_for(lock, std::chrono::seconds(5), [this] { return released_; });
      res.set_content("late", "text/plain");
    });
    server_.Post("/limited", [](const httplib::Request&, httplib::Response& res) {
      res.status = 429;
      res.set_header("Retry-After", "7");
      res.set_content("slow down", "text/plain");
    });
    server_.Post("/big", [](const httplib::Request&, httplib::Response& res) {
      res.status = 500;
      res.set_content(std::string(1 << 20, 'x'), "text/plain");
    });
    port_ = server_.bind_to_any_port("127.0.0.1");
    thread_ = std::thread([this] { server_.listen_after_bind(); });
    // stop() before the listener runs would be lost and join() would wait forever.
    while (!server_.is_running()) std::this_thread::sleep_for(std::chrono::milliseconds(1));
  }
  ~Receiver() {
    {
      std::lock_guard<std::mutex> lock(mu_);
      released_ = true;
    }
    cv_.notify_all();
    server_.stop();
    thread_.join();
  }
  int port() const { return port_; }
  std::vector<Received> received() {
    std::lock_guard<std::mutex> lock(mu_);
    return received_;
  }
  std::atomic<int> redirect_hits_{0}, followed_{0};

 private:
  httplib::Server server_;
  std::thread thread_;
  int port_ = 0;
  std::mutex mu_;
  std::condition_variable cv_;
  bool released_ = false;
  std::vector<Received> received_;
};

WebhookUrl Url(const std::string& text) {
  StatusOr<WebhookUrl> url = ParseWebhookUrl(text);
  EXPECT_TRUE(url.ok()) << url.status().ToString();
  return url.ok() ? *url : WebhookUrl{};
}

std::string Local(int port, const std::string& path) {
  return "http://127.0.0.1:" + std::to_string(port) + path;
}

// Independent check of a webhook-signature header with Python's hmac/hashlib/base64.
constexpr char kVerifier[] = R"PY(
import base64, hashlib, hmac, sys
msg_id, ts, body, header = sys.argv[1:5]
secrets = sys.argv[5:]
content = (msg_id + "." + ts + ".").encode() + body.encode()
sigs = [s.split(",", 1)[1] for s in header.split(" ") if s.startswith("v1,")]
assert len(sigs) == len(secrets), (sigs, secrets)
for secret, sig in zip(secrets, sigs):
    key = base64.b64decode(secret[len("whsec_"):])
    expected = base64.b64encode(hmac.new(key, content, hashlib.sha256).digest()).decode()
    assert hmac.compare_digest(expected, sig), (expected, sig)
print("verified", len(sigs))
)PY";

StatusOr<ProcessResult> PythonVerify(const std::string& id, const std::string& ts,
                                     const std::string& body, const std::string& header,
                                     const std::vector<std::string>& secrets) {
  ProcessSpec spec;
  spec.argv = {"/usr/bin/python3", "-c", kVerifier, id, ts, body, header};
  for (const std::string& s : secrets) spec.argv.push_back(s);
  spec.timeout = std::chrono::seconds(60);
  return RunProcess(spec);
}

TEST(SignatureTest, PythonAgreesWithTheStandardWebhooksVector) {
  const std::string secret = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw";
  TW_ASSERT_OK_AND_ASSIGN(std::string sig, Sign({secret}, "msg_p5jXN8AQM9LWM0D4loKWxJek",
                                                1614265330, R"({"test": 2432232314})"));
  ASSERT_EQ(sig, "v1,g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OE=");
  TW_ASSERT_OK_AND_ASSIGN(ProcessResult r,
                          PythonVerify("msg_p5jXN8AQM9LWM0D4loKWxJek", "1614265330",
                                       R"({"test": 2432232314})", sig, {secret}));
  EXPECT_TRUE(r.ok()) << r.output;
  EXPECT_THAT(r.output, HasSubstr("verified 1"));
}

TEST(DeliverTest, PostsSignedJsonThatAReceiverVerifies) {
  Receiver receiver;
  TW_ASSERT_OK_AND_ASSIGN(std::string old_secret, GenerateSecret());
  TW_ASSERT_OK_AND_ASSIGN(std::string new_secret, GenerateSecret());
  FlagEvent e;
  e.event_type = "test";
  e.event_id = NewMessageId();
  e.checkpoint = "run/ckpt \xE2\x80\x94 \"quoted\".pt";
  e.run = "run";
  e.created_at = "2024-03-01T00:00:00Z";
  TW_ASSERT_OK_AND_ASSIGN(std::string body, RenderMessage(WebhookFormat::kGeneric, e));
  const int64_t ts = 1'700'000'000;
  TW_ASSERT_OK_AND_ASSIGN(std::string sig, Sign({old_secret, new_secret}, e.event_id, ts, body));
  DeliveryAttempt a =
      Deliver(Url(Local(receiver.port(), "/hook?token=abc")), true,
              StandardWebhookHeaders(e.event_id, ts, sig), body, milliseconds(5000));
  TW_ASSERT_OK(a.error);
  EXPECT_EQ(a.http_status, 200);
  EXPECT_EQ(ClassifyStatus(a.http_status), DeliveryOutcome::kDelivered);
  EXPECT_EQ(a.response_snippet, "thanks");
  EXPECT_GE(a.elapsed.count(), 0);
  std::vector<Received> got = receiver.received();
  ASSERT_EQ(got.size(), 1u);
  EXPECT_EQ(got[0].method, "POST");
  EXPECT_EQ(got[0].path, "/hook?x");
  EXPECT_EQ(got[0].host, "127.0.0.1:" + std::to_string(receiver.port()));
  EXPECT_EQ(got[0].content_type, "application/json");
  EXPECT_EQ(got[0].id, e.event_id);
  EXPECT_EQ(got[0].timestamp, "1700000000");
  EXPECT_EQ(got[0].signature, sig);
  EXPECT_EQ(got[0].body, body);
  TW_ASSERT_OK_AND_ASSIGN(ProcessResult r,
                          PythonVerify(got[0].id, got[0].timestamp, got[0].body, got[0].signature,
                                       {old_secret, new_secret}));
  EXPECT_TRUE(r.ok()) << r.output;
  EXPECT_THAT(r.output, HasSubstr("verified 2"));
  // A tampered body does not verify.
  TW_ASSERT_OK_AND_ASSIGN(r, PythonVerify(got[0].id, got[0].timestamp, got[0].body + " ",
                                          got[0].signature, {old_secret, new_secret}));
  EXPECT_FALSE(r.ok());
}

TEST(DeliverTest, RedirectIsReturnedNotFollowed) {
  Receiver receiver;
  DeliveryAttempt a =
      Deliver(Url(Local(receiver.port(), "/redirect")), true, {}, "{}", milliseconds(5000));
  EXPECT_EQ(a.http_status, 302);
  EXPECT_EQ(ClassifyStatus(a.http_status), DeliveryOutcome::kRetry);
  EXPECT_THAT(a.error, StatusIs(StatusCode::kFailedPrecondition, HasSubstr("redirect")));
  EXPECT_EQ(receiver.redirect_hits_.load(), 1);
  EXPECT_EQ(receiver.followed_.load(), 0);
}

TEST(DeliverTest, SlowEndpointTimesOut) {
  Receiver receiver;
  DeliveryAttempt a =
      Deliver(Url(Local(receiver.port(), "/slow")), true, {}, "{}", milliseconds(300));
  EXPECT_EQ(a.http_status, 0);
  EXPECT_FALSE(a.error.ok());
  EXPECT_THAT(a.error.message(), HasSubstr("timed out"));
  EXPECT_GE(a.elapsed.count(), 250);
  EXPECT_LT(a.elapsed.count(), 4000);
}

TEST(DeliverTest, RetryAfterAndBoundedBody) {
  Receiver receiver;
  DeliveryAttempt a =
      Deliver(Url(Local(receiver.port(), "/limited")), true, {}, "{}", milliseconds(5000));
  TW_EXPECT_OK(a.error);
  EXPECT_EQ(a.http_status, 429);
  EXPECT_EQ(a.retry_after, std::chrono::seconds(7));
  EXPECT_EQ(NextDelay(1, a.retry_after), std::chrono::seconds(7));
  EXPECT_EQ(a.response_snippet, "slow down");
  a = Deliver(Url(Local(receiver.port(), "/big")), true, {}, "{}", milliseconds(5000));
  TW_EXPECT_OK(a.error);
  EXPECT_EQ(a.http_status, 500);
  EXPECT_EQ(a.response_snippet, std::string(256, 'x'));
}

// A TCP server that answers every connection with `reply` and closes.
class RawServer {
 public:
  explicit RawServer(std::string reply) : reply_(std::move(reply)) {
    fd_ = socket(AF_INET, SOCK_STREAM, 0);
    sockaddr_in addr{};
    addr.sin_family = AF_INET;
    addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    EXPECT_EQ(bind(fd_, reinterpret_cast<sockaddr*>(&addr), sizeof addr), 0);
    socklen_t len = sizeof addr;
    getsockname(fd_, reinterpret_cast<sockaddr*>(&addr), &len);
    port_ = ntohs(addr.sin_port);
    EXPECT_EQ(listen(fd_, 4), 0);
    thread_ = std::thread([this] {
      int c = accept(fd_, nullptr, nullptr);
      if (c < 0) return;
      char buf[4096];
      (void)!read(c, buf, sizeof buf);
      (void)!write(c, reply_.data(), reply_.size());
      close(c);
    });
  }
  ~RawServer() {
    shutdown(fd_, SHUT_RDWR);
    close(fd_);
    thread_.join();
  }
  int port() const { return port_; }

 private:
  std::string reply_;
  int fd_ = -1;
  int port_ = 0;
  std::thread thread_;
};

TEST(DeliverTest, MalformedRepliesAreErrorsNotCrashes) {
  for (std::string reply : {std::string("this is not HTTP\r\n\r\n"), std::string(),
                            std::string("HTTP/1.1 abc Weird\r\n\r\n"),
                            std::string("HTTP/1.1 200 OK\r\nContent-Length: 99999\r\n\r\nshort")}) {
    RawServer raw(reply);
    DeliveryAttempt a = Deliver(Url(Local(raw.port(), "/")), true, {}, "{}", milliseconds(2000));
    if (a.http_status == 200) {
      // The status line arrived; the truncated body is only a snippet.
      EXPECT_EQ(a.response_snippet, "short");
    } else {
      EXPECT_EQ(a.http_status, 0) << reply;
      EXPECT_THAT(a.error, StatusIs(StatusCode::kUnavailable, HasSubstr("127.0.0.1"))) << reply;
    }
  }
}

TEST(DeliverTest, ConnectionRefusedIsUnavailable) {
  int port;
  {
    RawServer raw("");  // take a free port, then let it go
    port = raw.port();
    DeliveryAttempt ignored = Deliver(Url(Local(port, "/")), true, {}, "{}", milliseconds(500));
    (void)ignored;
  }
  DeliveryAttempt a = Deliver(Url(Local(port, "/")), true, {}, "{}", milliseconds(2000));
  EXPECT_EQ(a.http_status, 0);
  EXPECT_THAT(a.error, StatusIs(StatusCode::kUnavailable, HasSubstr("connect")));
}

TEST(DeliverTest, SsrfGuardRefusesLoopbackByAddressAndByName) {
  Receiver receiver;
  for (std::string host :
       {"127.0.0.1", "localhost", "2130706433", "0x7f.1", "[::ffff:127.0.0.1]"}) {
    DeliveryAttempt a =
        Deliver(Url("http://" + host + ":" + std::to_string(receiver.port()) + "/hook?t=CANARY"),
                false, {}, "{}", milliseconds(2000));
    EXPECT_EQ(a.http_status, 0) << host;
    EXPECT_THAT(a.error,
                StatusIs(StatusCode::kPermissionDenied,
                         ::testing::AllOf(HasSubstr("loopback"), Not(HasSubstr("CANARY")))))
        << host;
  }
  EXPECT_TRUE(receiver.received().empty());
  // The same name is allowed when the destination allows private addresses.
  DeliveryAttempt a = Deliver(Url("http://localhost:" + std::to_string(receiver.port()) + "/hook"),
                              true, {}, "{}", milliseconds(5000));
  TW_EXPECT_OK(a.error);
  EXPECT_EQ(a.http_status, 200);
  EXPECT_EQ(receiver.received().at(0).host, "localhost:" + std::to_string(receiver.port()));
}

TEST(DeliverTest, HeaderInjectionAndUnresolvableHostsAreRefused) {
  Receiver receiver;
  DeliveryAttempt a = Deliver(Url(Local(receiver.port(), "/hook")), true,
                              {{"webhook-id", "msg_x\r\nX-Evil: 1"}}, "{}", milliseconds(2000));
  EXPECT_THAT(a.error, StatusIs(StatusCode::kInvalidArgument, HasSubstr("CR, LF")));
  a = Deliver(Url("http://no-such-host.invalid/hook"), false, {}, "{}", milliseconds(2000));
  EXPECT_THAT(a.error, StatusIs(StatusCode::kUnavailable, HasSubstr("no-such-host.invalid")));
  EXPECT_TRUE(receiver.received().empty());
}

}  // namespace
}  // namespace tw::notify
