// From evaluation to chat: a real daemon evaluates two checkpoints of a run (the fake evaluator
// gets right exactly the images the test chooses), the transfer check flags the second one's
// Sketch regression, and the flag's event reaches a webhook receiver on 127.0.0.1, signed per
// Standard Webhooks, exactly once, even when the daemon is killed before it could deliver.
#include <arpa/inet.h>
#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <netinet/in.h>
#include <signal.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <unistd.h>

#include <filesystem>
#include <fstream>
#include <mutex>
#include <pqxx/pqxx>
#include <regex>
#include <thread>

#include "notify/signing.h"
#include "tests/testing/cli.h"
#include "tests/testing/daemon_process.h"
#include "tests/testing/httplib.h"
#include "tests/testing/pg_test.h"
#include "tests/testing/temp_dir.h"
#include "tests/unit/watch/zip_fixtures.h"

namespace tw {
namespace {

using ::testing::HasSubstr;
using ::tw::testing::DaemonProcess;
using ::tw::testing::ScratchDatabase;
using ::tw::testing::TempDir;
using ::tw::testing::WaitFor;
using namespace std::chrono_literals;

// A webhook endpoint: records every request.
class Receiver {
 public:
  struct Request {
    std::string id, timestamp, signature, body;
  };
  Receiver() {
    server_.Post("/hook", [this](const httplib::Request& req, httplib::Response& res) {
      std::lock_guard<std::mutex> lock(mu_);
      requests_.push_back({req.get_header_value("webhook-id"),
                           req.get_header_value("webhook-timestamp"),
                           req.get_header_value("webhook-signature"), req.body});
      res.status = 204;
    });
    port_ = server_.bind_to_any_port("127.0.0.1");
    thread_ = std::thread([this] { server_.listen_after_bind(); });
    while (!server_.is_running()) std::this_thread::sleep_for(1ms);
  }
  ~Receiver() {
    server_.stop();
    thread_.join();
  }
  int port() const { return port_; }
  std::vector<Request> requests() {
    std::lock_guard<std::mutex> lock(mu_);
    return requests_;
  }

 private:
  httplib::Server server_;
  int port_ = 0;
  std::thread thread_;
  std::mutex mu_;
  std::vector<Request> requests_;
};

// A port nothing listens on (bound once by the kernel's choice, then closed).
int FreePort() {
  int fd = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  ::bind(fd, reinterpret_cast<sockaddr*>(&addr), sizeof(addr));
  socklen_t len = sizeof(addr);
  ::getsockname(fd, reinterpret_cast<sockaddr*>(&addr), &len);
  ::close(fd);
  return ntohs(addr.sin_port);
}

class AlertsTest : public ::testing::Test {
 protected:
  void SetUp() override {
    db_ = std::make_unique<ScratchDatabase>();
    ASSERT_TRUE(db_->ok());
    ::chmod(dir_.path().c_str(), 0755);
    root_ = dir_.Sub("watch");
    std::filesystem::create_directories(root_ + "/run");
    ::chmod(root_.c_str(), 0755);
    ::chmod((root_ + "/run").c_str(), 0755);
    auto store = PgStore::Connect(db_->conninfo());
    ASSERT_TRUE(store.ok());
    store_ = std::move(*store);
    AddDataset("imagenet", "");
    AddDataset("sketch", "imagenet");
  }

  void AddDataset(const std::string& name, const std::string& reference) {
    std::string data = dir_.Sub("data/" + name);
    for (int i = 0; i < 400; ++i) {
      std::string path = data + "/n01440764/img" + std::to_string(1000 + i) + ".JPEG";
      std::filesystem::create_directories(std::filesystem::path(path).parent_path());
      ::tw::testing::WriteTestFile(path, name + std::to_string(i));
    }
    std::vector<std::string> args = {"--database", db_->conninfo(), "dataset",     "add", name,
                                     data,         "--layout",      "wnid-folders"};
    if (!reference.empty()) {
      args.push_back("--reference");
      args.push_back(reference);
    }
    auto result = ::tw::testing::RunCli(args);
    ASSERT_EQ(result.exit_code, 0) << result.output;
  }

  std::string AddWebhook(int port) {
    auto secret = notify::GenerateSecret();
    EXPECT_TRUE(secret.ok());
    NewWebhook hook;
    hook.url = "http://127.0.0.1:" + std::to_string(port) + "/hook";
    hook.format = "generic";
    hook.secrets = {*secret};
    hook.events = {"regression"};
    hook.allow_private_network = true;
    auto id = store_->AddWebhook(hook);
    EXPECT_TRUE(id.ok()) << id.status().ToString();
    return *secret;
  }

  void Checkpoint(const std::string& name, int imagenet_right, int sketch_right) {
    std::string path = root_ + "/run/" + name;
    std::string payload = "TWFAKE:ACC=imagenet=" + std::to_string(imagenet_right) +
                          "; TWFAKE:ACC=sketch=" + std::to_string(sketch_right) + ";";
    ASSERT_TRUE(::tw::testing::WriteZip(path + ".tmp", ::tw::testing::TorchScriptEntries(payload)));
    ::chmod((path + ".tmp").c_str(), 0644);
    std::filesystem::rename(path + ".tmp", path);
  }

  std::unique_ptr<DaemonProcess> StartDaemon(const std::string& name, bool api = false) {
    std::string state = dir_.Sub("state-" + name);
    std::filesystem::create_directories(state);
    ::chmod(state.c_str(), 0755);
    std::string config = dir_.Sub(name + ".toml");
    std::ofstream(config) << "[watch]\nroots = [\"" << root_ << "\"]\nsettle = \"200ms\"\n"
                          << "[eval]\nevaluator = \"" << TW_FAKE_EVALUATOR_PATH << "\"\n"
                          << "[workers]\npoll_interval = \"500ms\"\nplan_interval = \"1s\"\n"
                          << "[api]\n"
                          << (api ? "port = 0\n" : "enabled = false\n");
    return std::make_unique<DaemonProcess>(
        TW_DAEMON_PATH,
        std::vector<std::string>{"--config", config, "--database", db_->conninfo(), "--state-dir",
                                 state},
        dir_.Sub(name + ".log"));
  }

  size_t Evaluations() {
    auto counts = store_->Counts();
    return counts.ok() ? static_cast<size_t>(counts->evaluations) : 0;
  }

  TempDir dir_;
  std::string root_;
  std::unique_ptr<ScratchDatabase> db_;
  std::unique_ptr<PgStore> store_;
};

TEST_F(AlertsTest, ARegressionReachesTheWebhookSignedAndOnce) {
  Receiver receiver;
  std::string secret = AddWebhook(receiver.port());
  auto daemon = StartDaemon("d", /*api=*/true);
  Checkpoint("step_1.pt", 200, 240);
  ASSERT_TRUE(WaitFor([&] { return Evaluations() == 2; }, 30s)) << daemon->Log();
  // +25 points on ImageNet (100 more images right), -20 on Sketch (80 fewer).
  Checkpoint("step_2.pt", 300, 160);
  ASSERT_TRUE(WaitFor([&] { return !receiver.requests().empty(); }, 30s)) << daemon->Log();
  // Recorded as delivered (a 204 is a success): no retry will follow.
  ASSERT_TRUE(WaitFor(
      [&] {
        auto d = store_->ListDeliveries(std::nullopt, std::string("delivered"), 10);
        return d.ok() && d->size() == 1;
      },
      10s))
      << daemon->Log();
  auto requests = receiver.requests();
  ASSERT_EQ(requests.size(), 1u) << daemon->Log();
  const auto& r = requests[0];
  EXPECT_THAT(r.id, ::testing::StartsWith("msg_"));
  auto expected = notify::Sign({secret}, r.id, std::stoll(r.timestamp), r.body);
  ASSERT_TRUE(expected.ok());
  EXPECT_EQ(r.signature, *expected);
  auto body = nlohmann::json::parse(r.body);
  EXPECT_EQ(body["type"], "transferwatch.regression");
  EXPECT_EQ(body["data"]["checkpoint"], "run/step_2.pt");
  EXPECT_THAT(r.body, HasSubstr("sketch"));

  auto flags = ::tw::testing::RunCliJson({"--database", db_->conninfo(), "flags"});
  ASSERT_EQ(flags["flags"].size(), 1u) << flags.dump();
  EXPECT_EQ(flags["flags"][0]["kind"], "regression");
  EXPECT_EQ(flags["flags"][0]["variant_only_old"], 80);
  EXPECT_EQ(flags["flags"][0]["reference_only_new"], 100);

  // The same over HTTP: /v1/flags and /v1/report run the CLI's commands.
  std::smatch port;
  std::string log = daemon->Log();
  ASSERT_TRUE(std::regex_search(log, port, std::regex("HTTP API on 127\\.0\\.0\\.1:([0-9]+)")))
      << log;
  httplib::Client http("127.0.0.1", std::stoi(port[1]));
  auto listed = http.Get("/v1/flags?kind=regression&run=run");
  ASSERT_TRUE(listed);
  ASSERT_EQ(listed->status, 200) << listed->body;
  auto over_http = nlohmann::json::parse(listed->body);
  EXPECT_EQ(over_http["flags"], flags["flags"]);
  auto report = http.Get("/v1/report?reference=imagenet&dataset=sketch");
  ASSERT_TRUE(report);
  ASSERT_EQ(report->status, 200) << report->body;
  EXPECT_THAT(report->body, HasSubstr("\"sketch\""));
  auto bad = http.Get("/v1/report?top=zero");
  ASSERT_TRUE(bad);
  EXPECT_EQ(bad->status, 400);
  EXPECT_THAT(bad->body, HasSubstr("top must be an integer"));
  daemon->Signal(SIGTERM);
  EXPECT_EQ(daemon->Wait(20s), std::optional<int>(0));
}

TEST_F(AlertsTest, AnEventCommittedBeforeACrashIsDeliveredAfterTheRestart) {
  // The receiver is down at first: the attempt fails and waits for its retry.
  int port = FreePort();
  std::string secret = AddWebhook(port);
  auto daemon = StartDaemon("first");
  Checkpoint("step_1.pt", 200, 240);
  ASSERT_TRUE(WaitFor([&] { return Evaluations() == 2; }, 30s)) << daemon->Log();
  Checkpoint("step_2.pt", 300, 160);
  ASSERT_TRUE(WaitFor(
      [&] {
        auto d = store_->ListDeliveries(std::nullopt, std::string("pending"), 10);
        return d.ok() && !d->empty() && (*d)[0].attempts >= 1;
      },
      30s))
      << daemon->Log();
  daemon->Signal(SIGKILL);
  daemon->Wait(10s);

  // The endpoint comes back on the same port; a new daemon delivers the stored event.
  httplib::Server server;
  std::vector<std::string> ids;
  std::mutex mu;
  server.Post("/hook", [&](const httplib::Request& req, httplib::Response& res) {
    std::lock_guard<std::mutex> lock(mu);
    ids.push_back(req.get_header_value("webhook-id"));
    res.status = 200;
  });
  ASSERT_TRUE(server.bind_to_port("127.0.0.1", port));
  std::thread serving([&] { server.listen_after_bind(); });
  while (!server.is_running()) std::this_thread::sleep_for(1ms);
  auto second = StartDaemon("second");
  // If the kill caught the first daemon in its next attempt, the delivery stays leased to it
  // for the sender's lease (60 s) before another daemon may send it: wait past that.
  bool delivered = WaitFor(
      [&] {
        std::lock_guard<std::mutex> lock(mu);
        return !ids.empty();
      },
      90s);
  server.stop();
  serving.join();
  ASSERT_TRUE(delivered) << second->Log();
  auto deliveries = store_->ListDeliveries(std::nullopt, std::nullopt, 10);
  ASSERT_TRUE(deliveries.ok());
  ASSERT_EQ(deliveries->size(), 1u);
  EXPECT_EQ((*deliveries)[0].state, "delivered");
  EXPECT_EQ((*deliveries)[0].event_id, ids[0]);  // the same id as the failed attempt's
  EXPECT_GE((*deliveries)[0].attempts, 2);
  second->Signal(SIGTERM);
  EXPECT_EQ(second->Wait(20s), std::optional<int>(0));
}

// A daemon killed after recording a result and before running its transfer checks (or one
// whose database restarted in between) leaves them owed; another daemon's planner runs them,
// so the flag and its alert are not lost. The crash's state is made exactly: the checks and
// events of step_2 removed and its mark set an hour back, while no daemon runs.
TEST_F(AlertsTest, ChecksThatDidNotRunAfterAResultAreRunByAnotherDaemon) {
  Receiver receiver;
  AddWebhook(receiver.port());
  auto daemon = StartDaemon("first");
  Checkpoint("step_1.pt", 200, 240);
  ASSERT_TRUE(WaitFor([&] { return Evaluations() == 2; }, 30s)) << daemon->Log();
  Checkpoint("step_2.pt", 300, 160);
  auto flags = [&] {
    auto listed = store_->ListFlags(FlagFilter{});
    return listed.ok() ? listed->size() : 0u;
  };
  ASSERT_TRUE(WaitFor([&] { return flags() == 1 && receiver.requests().size() == 1; }, 30s))
      << daemon->Log();
  ChecksDueFilter any;
  auto owed = store_->ListChecksDue(any);
  ASSERT_TRUE(owed.ok());
  EXPECT_TRUE(owed->empty()) << "the checks ran, so nothing is owed";
  daemon->Signal(SIGKILL);
  daemon->Wait(10s);

  {
    pqxx::connection conn(db_->conninfo());
    pqxx::work tx(conn);
    tx.exec("DELETE FROM tw.outbox");
    tx.exec("DELETE FROM tw.transfer_checks");
    tx.exec(
        "UPDATE tw.checkpoints SET checks_due_at = now() - interval '1 hour' "
        "WHERE name = 'step_2.pt'");
    tx.commit();
  }
  ASSERT_EQ(flags(), 0u);
  auto second = StartDaemon("second");
  ASSERT_TRUE(WaitFor([&] { return flags() == 1 && receiver.requests().size() == 2; }, 30s))
      << second->Log();
  EXPECT_THAT(second->Log(), HasSubstr("run/step_2.pt: running its owed transfer checks"));
  owed = store_->ListChecksDue(any);
  ASSERT_TRUE(owed.ok());
  EXPECT_TRUE(owed->empty()) << "the sweep cleared the mark";
  second->Signal(SIGTERM);
  EXPECT_EQ(second->Wait(20s), std::optional<int>(0));
}

}  // namespace
}  // namespace tw
