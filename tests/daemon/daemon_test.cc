// transferwatchd end to end: real daemon processes on a real PostgreSQL watching real folders,
// running a protocol-speaking fake evaluator (tests/testing/fake_evaluator.cc). What is tested
// is the daemon: intake, planning, the queue shared by several daemons, leases and their rescue,
// crashes, drains, lost connections and the HTTP API.
#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <signal.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include <filesystem>
#include <fstream>
#include <set>
#include <thread>

#include "store/pg_admin.h"
#include "tests/testing/cli.h"
#include "tests/testing/daemon_fixture.h"
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

class DaemonTest : public ::tw::testing::DaemonFixture {};

TEST_F(DaemonTest, ThreeDaemonsRecordEveryEvaluationExactlyOnce) {
  for (const char* name : {"val", "v2", "sketch"}) AddDataset(name);
  Options options;
  options.slots = 2;
  std::vector<std::unique_ptr<DaemonProcess>> daemons;
  for (int i = 0; i < 3; ++i) daemons.push_back(StartDaemon("d" + std::to_string(i), options));
  for (int i = 0; i < 30; ++i) {
    Checkpoint("run" + std::to_string(i % 3), "step_" + std::to_string(i) + ".pt",
               "weights " + std::to_string(i), /*by_rename=*/i % 2 == 0);
  }
  // A copy under another name is the same checkpoint; a file that is not a checkpoint is refused.
  std::filesystem::copy_file(root_ + "/run0/step_0.pt", root_ + "/run0/copy.pt");
  ::tw::testing::WriteTestFile(root_ + "/run0/notes.pt", "not a zip at all");

  bool done = WaitFor([&] { return Counts().done == 90; }, 120s);
  JobCounts counts = Counts();
  ASSERT_TRUE(done) << "pending " << counts.pending << " running " << counts.running << " done "
                    << counts.done << " dead " << counts.dead << "\n"
                    << daemons[0]->Log();
  EXPECT_EQ(Evaluations(), 90);
  std::set<std::string> keys;
  std::set<std::string> workers;
  for (const auto& job : Jobs()) {
    EXPECT_EQ(job.state, JobState::kDone);
    EXPECT_EQ(job.attempt, 1) << job.checkpoint << " " << job.dataset;
    EXPECT_TRUE(keys.insert(job.evaluation_key).second);
    if (job.leased_by) workers.insert(job.leased_by->substr(0, job.leased_by->rfind(':')));
  }
  EXPECT_EQ(keys.size(), 90u);
  EXPECT_GE(workers.size(), 2u) << "the work was not shared";
  CheckpointFilter files;
  files.origin = "file";
  auto checkpoints = store_->ListCheckpoints(files);
  ASSERT_TRUE(checkpoints.ok());
  EXPECT_EQ(checkpoints->size(), 30u);  // copy.pt is step_0.pt; notes.pt was refused
  std::string logs;
  for (auto& d : daemons) logs += d->Log();
  EXPECT_THAT(logs, HasSubstr("notes.pt"));
  for (auto& d : daemons) {
    d->Signal(SIGTERM);
    EXPECT_EQ(d->Wait(20s), std::optional<int>(0)) << d->Log();
  }
}

// The evaluator runs in its job folder; a relative eval.evaluator once named nothing there and
// every attempt failed with "cannot start" (found by scripts/chaos).
TEST_F(DaemonTest, ARelativeEvaluatorPathIsTakenFromTheDaemonsWorkingDirectory) {
  AddDataset("val");
  Options options;
  options.evaluator = std::filesystem::relative(TW_FAKE_EVALUATOR_PATH).string();
  ASSERT_NE(options.evaluator.front(), '/');
  auto daemon = StartDaemon("relative", options);
  Checkpoint("run", "step_1.pt", "weights 1");
  ASSERT_TRUE(WaitFor([&] { return Counts().done == 1; }, 60s)) << daemon->Log();
  EXPECT_EQ(Jobs().at(0).attempt, 1);
  daemon->Signal(SIGTERM);
  EXPECT_EQ(daemon->Wait(20s), std::optional<int>(0)) << daemon->Log();
}

TEST_F(DaemonTest, AJobOfAKilledDaemonIsRescuedAndRecordedOnce) {
  AddDataset("val");
  Options options;
  options.lease = "2s";
  auto first = StartDaemon("first", options);
  Checkpoint("run", "slow.pt", "TWFAKE:SLEEP=4000");
  ASSERT_TRUE(WaitFor([&] { return Counts().running == 1; }, 30s)) << first->Log();
  first->Signal(SIGKILL);  // in the middle of the evaluation
  first->Wait(10s);
  auto second = StartDaemon("second", options);
  ASSERT_TRUE(WaitFor([&] { return Counts().done == 1; }, 60s)) << second->Log();
  EXPECT_EQ(Evaluations(), 1);
  auto jobs = Jobs();
  ASSERT_EQ(jobs.size(), 1u);
  EXPECT_EQ(jobs[0].attempt, 2);
  EXPECT_THAT(jobs[0].errors_json, HasSubstr("lease expired"));
  second->Signal(SIGTERM);
  EXPECT_EQ(second->Wait(20s), std::optional<int>(0));
}

TEST_F(DaemonTest, ACrashingEvaluatorEndsDeadWithTheReasonAndTheDaemonGoesOn) {
  AddDataset("val");
  Options options;
  options.max_attempts = 2;
  // Subscribed to eval-failed: each dead job's event gets a delivery (to a closed port here).
  NewWebhook hook;
  hook.url = "http://127.0.0.1:9/hook";
  hook.format = "generic";
  hook.secrets = {"whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"};
  hook.events = {"eval-failed"};
  hook.allow_private_network = true;
  ASSERT_TRUE(store_->AddWebhook(hook).ok());
  auto daemon = StartDaemon("d", options);
  Checkpoint("run", "crash.pt", "TWFAKE:SEGV");
  Checkpoint("run", "badarg.pt", "TWFAKE:BADARG");
  ASSERT_TRUE(WaitFor([&] { return Counts().dead == 2; }, 60s)) << daemon->Log();
  for (const auto& job : Jobs()) {
    ASSERT_TRUE(job.last_error.has_value());
    if (job.checkpoint == "run/crash.pt") {
      EXPECT_EQ(job.attempt, 2);
      EXPECT_THAT(*job.last_error, HasSubstr("signal 11"));
    } else {
      EXPECT_EQ(job.attempt, 1);  // InvalidArgument: a retry cannot fix it
      EXPECT_THAT(*job.last_error, HasSubstr("not a TorchScript module"));
    }
  }
  auto deliveries = store_->ListDeliveries(std::nullopt, std::nullopt, 10);
  ASSERT_TRUE(deliveries.ok());
  EXPECT_EQ(deliveries->size(), 2u);  // one eval-failed event per dead job, none per retry
  for (const auto& d : *deliveries) EXPECT_EQ(d.event_type, "eval-failed");
  // Still running, still working.
  Checkpoint("run", "fine.pt", "weights");
  ASSERT_TRUE(WaitFor([&] { return Counts().done == 1; }, 30s)) << daemon->Log();
  EXPECT_TRUE(daemon->running());
  daemon->Signal(SIGTERM);
  EXPECT_EQ(daemon->Wait(20s), std::optional<int>(0));
}

TEST_F(DaemonTest, SigtermDrainsAndReleasesTheRunningJob) {
  AddDataset("val");
  Options options;
  options.drain = "300ms";
  auto daemon = StartDaemon("d", options);
  Checkpoint("run", "slow.pt", "TWFAKE:SLEEP=20000");
  ASSERT_TRUE(WaitFor([&] { return Counts().running == 1; }, 30s)) << daemon->Log();
  auto start = std::chrono::steady_clock::now();
  daemon->Signal(SIGTERM);
  EXPECT_EQ(daemon->Wait(30s), std::optional<int>(0)) << daemon->Log();
  EXPECT_LT(std::chrono::steady_clock::now() - start, 15s);
  auto jobs = Jobs();
  ASSERT_EQ(jobs.size(), 1u);
  EXPECT_EQ(jobs[0].state, JobState::kPending);
  EXPECT_EQ(jobs[0].attempt, 0);  // a release does not count an attempt
  EXPECT_EQ(Evaluations(), 0);
  EXPECT_THAT(daemon->Log(), HasSubstr("released"));
}

TEST_F(DaemonTest, LostDatabaseConnectionsAreReconnectedAndNothingIsLost) {
  AddDataset("val");
  AddDataset("v2");
  Options options;
  options.slots = 2;
  auto daemon = StartDaemon("d", options);
  for (int i = 0; i < 6; ++i) {
    Checkpoint("run", "c" + std::to_string(i) + ".pt", "TWFAKE:SLEEP=300 " + std::to_string(i));
  }
  ASSERT_TRUE(WaitFor([&] { return Counts().done >= 2; }, 60s)) << daemon->Log();
  // Every connection of the daemon is cut, as a server restart would.
  ASSERT_TRUE(ExecuteSql(db_->conninfo(),
                         "SELECT pg_terminate_backend(pid) FROM pg_stat_activity "
                         "WHERE datname = current_database() AND pid <> pg_backend_pid()")
                  .ok());
  auto store = PgStore::Connect(db_->conninfo());
  ASSERT_TRUE(store.ok());
  store_ = std::move(*store);
  for (int i = 6; i < 9; ++i) {
    Checkpoint("run", "c" + std::to_string(i) + ".pt", "weights " + std::to_string(i));
  }
  bool done = WaitFor([&] { return Counts().done == 18; }, 90s);
  JobCounts counts = Counts();
  ASSERT_TRUE(done) << "pending " << counts.pending << " running " << counts.running << " done "
                    << counts.done << " dead " << counts.dead << "\n"
                    << daemon->Log();
  EXPECT_EQ(Evaluations(), 18);
  daemon->Signal(SIGTERM);
  EXPECT_EQ(daemon->Wait(20s), std::optional<int>(0));
}

TEST_F(DaemonTest, TheApiNeedsItsTokenOnEveryRouteButHealthz) {
  AddDataset("val");
  std::string token_file = dir_.Sub("token");
  ::tw::testing::WriteTestFile(token_file, "s3cret-token-value\n");
  ::chmod(token_file.c_str(), 0600);
  Options options;
  options.api = true;
  options.extra = "token_file = \"" + token_file + "\"\n";
  auto daemon = StartDaemon("d", options);
  std::string path = Checkpoint("run", "a.pt", "weights");
  ASSERT_TRUE(WaitFor([&] { return Counts().done == 1; }, 30s)) << daemon->Log();
  int port = 0;
  ASSERT_TRUE(WaitFor(
      [&] {
        std::string log = daemon->Log();
        auto at = log.find("HTTP API on 127.0.0.1:");
        if (at == std::string::npos) return false;
        port = std::atoi(log.c_str() + at + 22);
        return port > 0;
      },
      10s));
  httplib::Client client("127.0.0.1", port);
  httplib::Headers auth = {{"Authorization", "Bearer s3cret-token-value"}};
  httplib::Headers wrong = {{"Authorization", "Bearer s3cret-token-valuX"}};
  // Every route in the daemon's own table: the token is required on all but /healthz.
  auto table = client.Get("/v1", auth);
  ASSERT_TRUE(table);
  ASSERT_EQ(table->status, 200) << table->body;
  auto routes = nlohmann::json::parse(table->body)["routes"];
  ASSERT_GE(routes.size(), 10u);
  for (const auto& route : routes) {
    std::string method = route["method"], route_path = route["path"];
    SCOPED_TRACE(method + " " + route_path);
    auto call = [&](const httplib::Headers& headers) {
      return method == "GET" ? client.Get(route_path.c_str(), headers)
                             : client.Post(route_path.c_str(), headers, "{}", "application/json");
    };
    auto anonymous = call({});
    auto bad = call(wrong);
    auto good = call(auth);
    ASSERT_TRUE(anonymous && bad && good);
    if (route["public"] == true) {
      EXPECT_EQ(anonymous->status, 200);
      continue;
    }
    EXPECT_EQ(anonymous->status, 401);
    EXPECT_EQ(bad->status, 401);
    EXPECT_NE(good->status, 401);
    if (method == "GET") {
      EXPECT_EQ(good->status, 200) << good->body;
    }
  }

  // The JSON endpoints answer in the CLI's shapes.
  auto jobs = client.Get("/v1/jobs?state=done", auth);
  ASSERT_TRUE(jobs);
  auto doc = nlohmann::json::parse(jobs->body);
  ASSERT_EQ(doc["jobs"].size(), 1u);
  EXPECT_EQ(doc["jobs"][0]["checkpoint"], "run/a.pt");
  auto cli_jobs =
      ::tw::testing::RunCliJson({"--database", db_->conninfo(), "jobs", "list", "--state", "done"});
  EXPECT_EQ(doc, cli_jobs);
  auto status = client.Get("/v1/status", auth);
  ASSERT_TRUE(status);
  EXPECT_EQ(nlohmann::json::parse(status->body)["jobs_done"], 1) << status->body;
  auto bad_state = client.Get("/v1/jobs?state=finished", auth);
  ASSERT_TRUE(bad_state);
  EXPECT_EQ(bad_state->status, 400);
  EXPECT_THAT(bad_state->body, HasSubstr("finished"));
  auto metrics = client.Get("/metrics", auth);
  ASSERT_TRUE(metrics);
  EXPECT_THAT(metrics->body, HasSubstr("transferwatch_evaluations_total 1"));
  EXPECT_THAT(metrics->body, HasSubstr("transferwatch_jobs{state=\"done\"} 1"));
  // The daemon's own exposition passes `promtool check metrics` (scripts/setup fetches it).
  std::string promtool = TW_DATA_DIR "/../.cache/prometheus/promtool";
  ASSERT_EQ(::access(promtool.c_str(), X_OK), 0) << "run scripts/setup: no " << promtool;
  ::tw::testing::WriteTestFile(dir_.Sub("metrics.txt"), metrics->body);
  std::string check = "'" + promtool + "' check metrics < '" + dir_.Sub("metrics.txt") + "' > '" +
                      dir_.Sub("promtool.txt") + "' 2>&1";
  int rc = std::system(check.c_str());
  EXPECT_EQ(rc, 0) << ::tw::testing::ReadTestFile(dir_.Sub("promtool.txt"));
  EXPECT_EQ(::tw::testing::ReadTestFile(dir_.Sub("promtool.txt")), "");

  // Pushing a checkpoint: only files under a watch root, and only checkpoints.
  auto outside =
      client.Post("/v1/checkpoints", auth, "{\"path\":\"/etc/passwd\"}", "application/json");
  ASSERT_TRUE(outside);
  EXPECT_EQ(outside->status, 403) << outside->body;
  EXPECT_THAT(outside->body, HasSubstr("\"field\":\"path\""));
  auto malformed = client.Post("/v1/checkpoints", auth, "{\"path\":", "application/json");
  ASSERT_TRUE(malformed);
  EXPECT_EQ(malformed->status, 400);
  auto unknown = client.Post("/v1/checkpoints", auth, "{\"pth\":\"x\"}", "application/json");
  ASSERT_TRUE(unknown);
  EXPECT_EQ(unknown->status, 400);
  EXPECT_THAT(unknown->body, HasSubstr("pth"));
  auto bad_limit = client.Get("/v1/jobs?limit=abc", auth);
  ASSERT_TRUE(bad_limit);
  EXPECT_EQ(bad_limit->status, 400);
  auto pushed =
      client.Post("/v1/checkpoints", auth, "{\"path\":\"" + path + "\"}", "application/json");
  ASSERT_TRUE(pushed);
  EXPECT_EQ(pushed->status, 202) << pushed->body;
  daemon->Signal(SIGTERM);
  EXPECT_EQ(daemon->Wait(20s), std::optional<int>(0));
}

TEST_F(DaemonTest, ABadConfigRefusesToStartNamingTheKey) {
  std::string config = dir_.Sub("bad.toml");
  ::tw::testing::WriteTestFile(config, "[workers]\nslots = 2\nleese = \"1s\"\n");
  DaemonProcess bad(TW_DAEMON_PATH, {"--config", config, "--database", db_->conninfo()},
                    dir_.Sub("bad.log"));
  EXPECT_EQ(bad.Wait(20s), std::optional<int>(2));
  EXPECT_THAT(bad.Log(), HasSubstr("workers.leese"));
  DaemonProcess nothing(TW_DAEMON_PATH, {"--database", db_->conninfo()}, dir_.Sub("none.log"));
  EXPECT_EQ(nothing.Wait(20s), std::optional<int>(2));
  EXPECT_THAT(nothing.Log(), HasSubstr("--watch"));
}

TEST_F(DaemonTest, SighupReloadsAndKeepsTheRunningConfigWhenTheNewOneIsBad) {
  AddDataset("val");
  AddDataset("v2");
  Options options;
  auto daemon = StartDaemon("d", options);
  std::string config = dir_.Sub("d.toml");
  Checkpoint("run", "a.pt", "weights a");
  ASSERT_TRUE(WaitFor([&] { return Counts().done == 2; }, 30s)) << daemon->Log();

  // A broken file: refused, the daemon keeps running with what it had.
  std::string good = ::tw::testing::ReadTestFile(config);
  ::tw::testing::WriteTestFile(config, good + "[bogus]\nkey = 1\n");
  daemon->Signal(SIGHUP);
  ASSERT_TRUE(WaitFor(
      [&] { return daemon->Log().find("keeping the running config") != std::string::npos; }, 10s))
      << daemon->Log();
  EXPECT_THAT(daemon->Log(), HasSubstr("bogus"));
  EXPECT_TRUE(daemon->running());

  // A good one that narrows the datasets: only val is planned for new checkpoints.
  std::string narrowed = good;
  narrowed.replace(narrowed.find("[eval]\n"), 7, "[eval]\ndatasets = [\"val\"]\n");
  ::tw::testing::WriteTestFile(config, narrowed);
  daemon->Signal(SIGHUP);
  ASSERT_TRUE(
      WaitFor([&] { return daemon->Log().find("config reloaded") != std::string::npos; }, 10s))
      << daemon->Log();
  Checkpoint("run", "b.pt", "weights b");
  ASSERT_TRUE(WaitFor([&] { return Counts().done == 3; }, 30s)) << daemon->Log();
  std::this_thread::sleep_for(1500ms);  // a planning round later: still no v2 job for b.pt
  EXPECT_EQ(Counts().done + Counts().pending + Counts().running, 3);
  daemon->Signal(SIGTERM);
  EXPECT_EQ(daemon->Wait(20s), std::optional<int>(0));
}

TEST_F(DaemonTest, TheEvaluatorsMemoryIsLimitedAndOverrunningItFailsTheAttempt) {
  AddDataset("val");
  Options options;
  options.max_attempts = 1;
  options.eval_extra = "memory_limit_mb = 256\n";
  auto limited = StartDaemon("d", options);
  Checkpoint("run", "hungry.pt", "TWFAKE:ALLOC=1024");
  Checkpoint("run", "modest.pt", "TWFAKE:ALLOC=32");
  ASSERT_TRUE(WaitFor([&] { return Counts().dead == 1 && Counts().done == 1; }, 60s))
      << limited->Log();
  for (const auto& job : Jobs()) {
    if (job.checkpoint != "run/hungry.pt") continue;
    EXPECT_THAT(job.last_error.value_or(""), HasSubstr("signal 6")) << job.last_error.value_or("");
  }
  EXPECT_TRUE(limited->running());
  limited->Signal(SIGTERM);
  EXPECT_EQ(limited->Wait(20s), std::optional<int>(0));
}

TEST_F(DaemonTest, TellsSystemdWhenReadyAndWhenStopping) {
  AddDataset("val");
  // A NOTIFY_SOCKET of our own, as systemd would give it.
  int sock = BindNotifySocket();
  ASSERT_GE(sock, 0);
  auto daemon = StartDaemon("d", Options{});
  ::unsetenv("NOTIFY_SOCKET");
  std::string received;
  auto read_some = [&] {
    char buffer[4096];
    timeval timeout{0, 200000};
    ::setsockopt(sock, SOL_SOCKET, SO_RCVTIMEO, &timeout, sizeof(timeout));
    ssize_t n = ::recv(sock, buffer, sizeof(buffer), 0);
    if (n > 0) received.append(buffer, static_cast<size_t>(n)).append("\n");
  };
  ASSERT_TRUE(WaitFor(
      [&] {
        read_some();
        return received.find("READY=1") != std::string::npos;
      },
      20s))
      << received << daemon->Log();
  daemon->Signal(SIGTERM);
  ASSERT_TRUE(WaitFor(
      [&] {
        read_some();
        return received.find("STOPPING=1") != std::string::npos;
      },
      20s))
      << received;
  EXPECT_EQ(daemon->Wait(20s), std::optional<int>(0));
  ::close(sock);
}

}  // namespace
}  // namespace tw
