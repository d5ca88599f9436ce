// transferwatchd under the faults of docs/reliability.md that need whole daemons: lost
// notifications (Q9), long evaluations and open transactions (Q11), a stopped zombie (Q3), the
// database going away under the HTTP API (D3), the systemd watchdog (D1), restarts over files
// that arrived meanwhile (F4), rewrites and copies (F8), an evaluator answering garbage (R3),
// and secrets that must not leak (W6).
// Real daemon processes on a real PostgreSQL, with the protocol-speaking fake evaluator
// (tests/testing/fake_evaluator.cc), as tests/daemon/daemon_test.cc.
#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <signal.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include <filesystem>
#include <fstream>
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
using ::testing::Not;
using ::tw::testing::DaemonProcess;
using ::tw::testing::ScratchDatabase;
using ::tw::testing::TempDir;
using ::tw::testing::WaitFor;
using namespace std::chrono_literals;

class DaemonFaultTest : public ::tw::testing::DaemonFixture {
 protected:
  void TearDown() override {
    // A test that closed the database to new sessions opens it again before it is dropped.
    (void)ExecuteSql(::tw::testing::TestDatabaseAdminUrl(),
                     "ALTER DATABASE \"" + db_->name() + "\" ALLOW_CONNECTIONS true");
  }

  void Reconnect() {
    auto store = PgStore::Connect(db_->conninfo());
    ASSERT_TRUE(store.ok()) << store.status().ToString();
    store_ = std::move(*store);
  }

  bool Holds(const std::string& condition) {
    return ExecuteSql(db_->conninfo(), "DO $$BEGIN IF NOT (" + condition +
                                           ") THEN RAISE EXCEPTION 'no'; END IF; END$$")
        .ok();
  }

  static bool Ready(DaemonProcess& d) {
    return WaitFor([&] { return d.Log().find("ready: watching") != std::string::npos; }, 20s);
  }

  static int ApiPort(DaemonProcess& d) {
    int port = 0;
    WaitFor(
        [&] {
          std::string log = d.Log();
          auto at = log.find("HTTP API on 127.0.0.1:");
          if (at == std::string::npos) return false;
          port = std::atoi(log.c_str() + at + 22);
          return port > 0;
        },
        20s);
    return port;
  }

  static void Stop(DaemonProcess& d) {
    d.Signal(SIGTERM);
    EXPECT_EQ(d.Wait(20s), std::optional<int>(0)) << d.Log();
  }

  int64_t AllJobs() {
    JobCounts c = Counts();
    return c.pending + c.running + c.done + c.dead + c.cancelled;
  }
  size_t FileCheckpoints() {
    CheckpointFilter files;
    files.origin = "file";
    auto list = store_->ListCheckpoints(files);
    EXPECT_TRUE(list.ok());
    return list.ok() ? list->size() : 0;
  }
};

// Q11: while an evaluation runs for four seconds, longer than its two-second lease, no session
// of the database is inside a transaction (active or idle in it) for more than a second; the
// lease holds through heartbeats alone (the job is done at its first attempt, never rescued).
TEST_F(DaemonFaultTest, NoTransactionIsOpenWhileAnEvaluationRuns) {
  AddDataset("val");
  AddDataset("v2");
  Options options;
  options.lease = "2s";
  options.heartbeat = "250ms";
  auto daemon = StartDaemon("d", options);
  Checkpoint("run", "slow.pt", "TWFAKE:SLEEP=4000");
  ASSERT_TRUE(WaitFor([&] { return Counts().running == 2; }, 30s)) << daemon->Log();
  // Fails naming the session's state and statement when one has been inside a transaction for
  // a second (a transaction spanning the evaluation would be for most of its four seconds;
  // the planner's and the heartbeats' are a few milliseconds, "idle in transaction" between
  // their statements included).
  const std::string open_transaction =
      "DO $$DECLARE r record; BEGIN SELECT state, query, now() - xact_start AS age INTO r "
      "FROM pg_stat_activity WHERE datname = current_database() "
      "AND backend_type = 'client backend' AND pid <> pg_backend_pid() "
      "AND xact_start < clock_timestamp() - interval '1 second'; "
      "IF FOUND THEN RAISE EXCEPTION '% for % running %', r.state, r.age, r.query; END IF; END$$";
  const std::string daemon_sessions =
      "(SELECT count(*) FROM pg_stat_activity WHERE datname = current_database() "
      "AND backend_type = 'client backend' AND pid <> pg_backend_pid()) >= 3";
  int samples = 0, violations = 0;
  while (Counts().running == 2) {
    ++samples;
    Status clean = ExecuteSql(db_->conninfo(), open_transaction);
    if (!clean.ok()) {
      ++violations;
      ADD_FAILURE() << clean.message();
    }
    if (samples == 1) {
      EXPECT_TRUE(Holds(daemon_sessions)) << "the daemon's sessions are not seen";
    }
    std::this_thread::sleep_for(50ms);
  }
  EXPECT_GE(samples, 8) << "the evaluation ended before it was watched";
  EXPECT_EQ(violations, 0) << "a transaction was open during the evaluation";
  ASSERT_TRUE(WaitFor([&] { return Counts().done == 2; }, 20s)) << daemon->Log();
  for (const auto& job : Jobs()) EXPECT_EQ(job.attempt, 1) << "the lease was lost and rescued";
  EXPECT_EQ(Evaluations(), 2);
  Stop(*daemon);
}

// Q9: jobs that become claimable without any NOTIFY (here: made pending by plain SQL, which
// sends none) are found by the workers' polling, all of them, once each.
TEST_F(DaemonFaultTest, JobsThatBecomeClaimableWithoutANotifyAreFoundByPolling) {
  AddDataset("val");
  Options planner;
  planner.slots = 0;  // registers and plans, claims nothing
  auto first = StartDaemon("planner", planner);
  for (int i = 0; i < 12; ++i) {
    Checkpoint("run", "c" + std::to_string(i) + ".pt", "weights " + std::to_string(i));
  }
  ASSERT_TRUE(WaitFor([&] { return Counts().pending == 12; }, 30s)) << first->Log();
  Stop(*first);
  // Parked where no worker looks, before the worker starts.
  JobFilter pending;
  pending.states = {JobState::kPending};
  auto cancelled = store_->CancelJobs(pending);
  ASSERT_TRUE(cancelled.ok() && *cancelled == 12) << cancelled.status().ToString();

  Options worker;
  worker.poll_interval = "1s";
  auto second = StartDaemon("worker", worker);
  ASSERT_TRUE(Ready(*second)) << second->Log();
  std::this_thread::sleep_for(1500ms);  // its workers found nothing and sleep until polled
  EXPECT_EQ(Counts().cancelled, 12);
  ASSERT_TRUE(ExecuteSql(db_->conninfo(),
                         "UPDATE tw.jobs SET state = 'pending', finished_at = NULL, "
                         "run_after = now(), updated_at = now() WHERE state = 'cancelled'")
                  .ok());
  bool done = WaitFor([&] { return Counts().done == 12; }, 60s);
  ASSERT_TRUE(done) << "done " << Counts().done << "\n" << second->Log();
  EXPECT_EQ(Evaluations(), 12);
  for (const auto& job : Jobs()) EXPECT_EQ(job.attempt, 1) << job.checkpoint;
  Stop(*second);
}

// Q3: a daemon stopped (SIGSTOP) in the middle of an evaluation, past its lease, while another
// daemon rescues and records the job, then resumed (SIGCONT): it writes nothing. One
// evaluation and one predictions row, recorded at the second attempt by the survivor.
TEST_F(DaemonFaultTest, AStoppedDaemonResumedAfterItsLeaseWasTakenWritesNothing) {
  AddDataset("val");
  Options options;
  options.lease = "2s";
  options.heartbeat = "300ms";
  auto zombie = StartDaemon("zombie", options);
  Checkpoint("run", "slow.pt", "TWFAKE:SLEEP=3000");
  ASSERT_TRUE(WaitFor([&] { return Counts().running == 1; }, 30s)) << zombie->Log();
  zombie->Signal(SIGSTOP);  // its evaluator child runs on and finishes meanwhile
  auto survivor = StartDaemon("survivor", options);
  ASSERT_TRUE(WaitFor([&] { return Counts().done == 1; }, 60s)) << survivor->Log();
  zombie->Signal(SIGCONT);
  // Resumed, it learns from a heartbeat that the job is gone, or hands in the result its
  // evaluator finished meanwhile: refused ("lost its lease") while the survivor holds the job,
  // answered with the recorded evaluation once the survivor has recorded it (the idempotent
  // path of a lost commit answer, R2). Either way it writes nothing.
  std::this_thread::sleep_for(2s);  // heartbeats every 300 ms: it has acted by now
  EXPECT_TRUE(zombie->running()) << zombie->Log();
  EXPECT_EQ(Evaluations(), 1);
  auto jobs = Jobs();
  ASSERT_EQ(jobs.size(), 1u);
  EXPECT_EQ(jobs[0].state, JobState::kDone);
  EXPECT_EQ(jobs[0].attempt, 2);
  EXPECT_THAT(jobs[0].errors_json, HasSubstr("lease expired"));
  EXPECT_TRUE(Holds("(SELECT count(*) FROM tw.predictions) = 1"));
  EXPECT_THAT(survivor->Log(), HasSubstr("job 1 done"));
  Stop(*zombie);
  Stop(*survivor);
}

// R3: an evaluator that answers garbage — not JSON, an accuracy of 150, bytes that are not
// UTF-8 — and exits 0. Nothing is recorded; each attempt fails naming what was unreadable, and
// the job ends dead with that error (after its attempts: garbage is not told from a transient
// failure).
TEST_F(DaemonFaultTest, GarbageFromTheEvaluatorIsRefusedAndNothingIsRecorded) {
  AddDataset("val");
  std::string script = dir_.Sub("garbage-eval.sh");
  ::tw::testing::WriteTestFile(script,
                               "#!/bin/sh\n"
                               "echo 'this is not json'\n"
                               "echo '{\"event\":\"result\",\"dataset\":\"val\",\"top1\":150}'\n"
                               "printf '\\377\\376 not utf-8\\n'\n"
                               "exit 0\n");
  ::chmod(script.c_str(), 0755);
  Options options;
  options.evaluator = script;
  auto daemon = StartDaemon("d", options);
  Checkpoint("run", "a.pt", "weights");
  ASSERT_TRUE(WaitFor([&] { return Counts().dead == 1; }, 60s)) << daemon->Log();
  EXPECT_EQ(Evaluations(), 0);
  EXPECT_TRUE(Holds("(SELECT count(*) FROM tw.predictions) = 0"));
  auto jobs = Jobs();
  ASSERT_EQ(jobs.size(), 1u);
  EXPECT_EQ(jobs[0].attempt, 3);
  EXPECT_THAT(jobs[0].last_error.value_or(""), HasSubstr("unreadable evaluator output"));
  EXPECT_TRUE(daemon->running());
  Stop(*daemon);
}

// D3 (and Q6's readiness): the database refuses new sessions and every session is cut.
// /healthz keeps answering 200 (no restart storm); /readyz answers 503 naming the database,
// then 200 again once the database is back; the daemon goes on working.
TEST_F(DaemonFaultTest, ReadyzFollowsTheDatabaseWhileHealthzStaysUp) {
  AddDataset("val");
  Options options;
  options.api = true;
  auto daemon = StartDaemon("d", options);
  int port = ApiPort(*daemon);
  ASSERT_GT(port, 0) << daemon->Log();
  httplib::Client client("127.0.0.1", port);
  auto status_of = [&](const char* path) {
    auto response = client.Get(path);
    return response ? response->status : -1;
  };
  ASSERT_TRUE(WaitFor([&] { return status_of("/readyz") == 200; }, 20s)) << daemon->Log();

  ASSERT_TRUE(ExecuteSql(::tw::testing::TestDatabaseAdminUrl(),
                         "ALTER DATABASE \"" + db_->name() + "\" ALLOW_CONNECTIONS false")
                  .ok());
  ASSERT_TRUE(
      ExecuteSql(::tw::testing::TestDatabaseAdminUrl(),
                 "SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = '" +
                     db_->name() + "'")
          .ok());
  ASSERT_TRUE(WaitFor([&] { return status_of("/readyz") == 503; }, 20s)) << daemon->Log();
  auto body = client.Get("/readyz");
  ASSERT_TRUE(body);
  EXPECT_THAT(body->body, HasSubstr("database"));
  for (int i = 0; i < 5; ++i) {
    EXPECT_EQ(status_of("/healthz"), 200);
    std::this_thread::sleep_for(100ms);
  }
  EXPECT_TRUE(daemon->running());

  ASSERT_TRUE(ExecuteSql(::tw::testing::TestDatabaseAdminUrl(),
                         "ALTER DATABASE \"" + db_->name() + "\" ALLOW_CONNECTIONS true")
                  .ok());
  ASSERT_TRUE(WaitFor([&] { return status_of("/readyz") == 200; }, 30s)) << daemon->Log();
  Reconnect();
  Checkpoint("run", "after.pt", "weights");
  ASSERT_TRUE(WaitFor([&] { return Counts().done == 1; }, 60s)) << daemon->Log();
  Stop(*daemon);
}

// D1: with WatchdogSec (WATCHDOG_USEC), the daemon pings WATCHDOG=1 at half the interval from
// its main loop; a daemon that is stopped (a hang) sends none, so systemd would restart it.
TEST_F(DaemonFaultTest, PingsTheWatchdogFromItsMainLoop) {
  AddDataset("val");
  int sock = BindNotifySocket();
  ASSERT_GE(sock, 0);
  ::setenv("WATCHDOG_USEC", "400000", 1);  // pings every 200 ms
  auto daemon = StartDaemon("d", Options{});
  ::unsetenv("NOTIFY_SOCKET");
  ::unsetenv("WATCHDOG_USEC");
  // Reads what arrives for `how_long`; returns the number of WATCHDOG=1 pings.
  auto pings_during = [&](std::chrono::milliseconds how_long) {
    int pings = 0;
    auto until = std::chrono::steady_clock::now() + how_long;
    while (std::chrono::steady_clock::now() < until) {
      char buffer[4096];
      timeval timeout{0, 50000};
      ::setsockopt(sock, SOL_SOCKET, SO_RCVTIMEO, &timeout, sizeof(timeout));
      ssize_t n = ::recv(sock, buffer, sizeof(buffer), 0);
      if (n > 0 &&
          std::string(buffer, static_cast<size_t>(n)).find("WATCHDOG=1") != std::string::npos) {
        ++pings;
      }
    }
    return pings;
  };
  ASSERT_TRUE(Ready(*daemon)) << daemon->Log();
  int running = pings_during(2s);
  EXPECT_GE(running, 6) << "about ten pings expected in two seconds";
  EXPECT_LE(running, 14);
  daemon->Signal(SIGSTOP);
  pings_during(300ms);  // what was sent before the stop
  EXPECT_EQ(pings_during(1s), 0) << "a stopped daemon pinged the watchdog";
  daemon->Signal(SIGCONT);
  EXPECT_GE(pings_during(1s), 3) << "the pings did not resume";
  Stop(*daemon);
  ::close(sock);
}

// F4: files that arrive while no daemon runs are registered and queued at the next start (the
// start-up rescan); the start after that registers and queues nothing.
TEST_F(DaemonFaultTest, FilesThatArrivedWhileDownAreQueuedOnceAcrossTwoRestarts) {
  AddDataset("val");
  Options planner;
  planner.slots = 0;
  auto before = StartDaemon("before", planner);
  ASSERT_TRUE(Ready(*before)) << before->Log();
  Stop(*before);
  for (int i = 0; i < 20; ++i) {
    Checkpoint("run" + std::to_string(i % 2), "c" + std::to_string(i) + ".pt",
               "weights " + std::to_string(i));
  }
  auto first = StartDaemon("first", planner);
  ASSERT_TRUE(WaitFor([&] { return Counts().pending == 20; }, 30s)) << first->Log();
  Stop(*first);
  EXPECT_EQ(FileCheckpoints(), 20u);

  auto second = StartDaemon("second", planner);
  ASSERT_TRUE(Ready(*second)) << second->Log();
  std::this_thread::sleep_for(2500ms);  // its start-up rescan, settle and two planning rounds
  Stop(*second);
  EXPECT_EQ(AllJobs(), 20);
  EXPECT_EQ(FileCheckpoints(), 20u);
  EXPECT_THAT(second->Log(), Not(HasSubstr("queued ")));
  EXPECT_THAT(second->Log(), Not(HasSubstr("checkpoint run")));
}

// F8: identity is the content. A byte-identical copy under a new name adds no checkpoint and no
// job; rewriting a file with new bytes makes a new checkpoint with its own job, and the first
// content's evaluation stays recorded.
TEST_F(DaemonFaultTest, ARewriteIsANewCheckpointAndACopyIsNot) {
  AddDataset("val");
  auto daemon = StartDaemon("d", Options{});
  std::string a = Checkpoint("run", "a.pt", "weights one");
  ASSERT_TRUE(WaitFor([&] { return Counts().done == 1; }, 30s)) << daemon->Log();
  std::filesystem::copy_file(a, root_ + "/run/b.pt.tmp");
  std::filesystem::rename(root_ + "/run/b.pt.tmp", root_ + "/run/b.pt");
  Checkpoint("run", "a.pt", "weights two");
  ASSERT_TRUE(WaitFor([&] { return Counts().done == 2; }, 30s)) << daemon->Log();
  std::this_thread::sleep_for(2500ms);  // a rescan and planning rounds later: nothing more
  EXPECT_EQ(AllJobs(), 2);
  EXPECT_EQ(Evaluations(), 2);
  EXPECT_EQ(FileCheckpoints(), 2u);
  Stop(*daemon);
}

// W6: canary secrets — a chat webhook URL's token, an HMAC secret, the API token, a database
// password — pushed through error paths: an endpoint answering 400 with the request's path and
// signature echoed in its body, an unresolvable endpoint, a daemon and a CLI that cannot reach
// their database, requests without the token. None appears in the daemon's log, /metrics, API
// answers or the CLI's output.
TEST_F(DaemonFaultTest, NoCanaryReachesLogsMetricsApiOrCli) {
  const std::string url_token = "CANARYURLTOKENc0ffee";
  const std::string url_token2 = "CANARYURLTOKENdecade";
  // whsec_ + base64("CANARYHMACSECRETCANARYHMAC") (26 bytes).
  const std::string hmac_secret = "whsec_Q0FOQVJZSE1BQ1NFQ1JFVENBTkFSWUhNQUM=";
  const std::string hmac_payload = "Q0FOQVJZSE1BQ1NFQ1JFVENBTkFSWUhNQUM";
  const std::string api_token = "CANARYAPITOKENfeedface0123456789";
  const std::string db_password = "CANARYDBPASSWORDbadc0de";
  const std::vector<std::string> canaries = {url_token,    url_token2, hmac_secret,
                                             hmac_payload, api_token,  db_password};
  auto expect_clean = [&](const std::string& what, const std::string& text) {
    for (const auto& canary : canaries) {
      EXPECT_THAT(text, Not(HasSubstr(canary))) << what << " leaks a secret";
    }
  };

  // An endpoint that echoes what it was sent.
  httplib::Server echo;
  echo.Post(".*", [](const httplib::Request& req, httplib::Response& res) {
    res.status = 400;
    res.set_content(
        "bad request for " + req.path + " signed " + req.get_header_value("webhook-signature"),
        "text/plain");
  });
  int echo_port = echo.bind_to_any_port("127.0.0.1");
  ASSERT_GT(echo_port, 0);
  std::thread echo_thread([&] { echo.listen_after_bind(); });
  struct Joiner {
    httplib::Server& server;
    std::thread& thread;
    ~Joiner() {
      server.stop();
      thread.join();
    }
  } joiner{echo, echo_thread};

  AddDataset("val");
  NewWebhook echoing;
  echoing.url = "http://127.0.0.1:" + std::to_string(echo_port) + "/services/T0/B0/" + url_token;
  echoing.format = "slack";
  echoing.secrets = {hmac_secret};
  echoing.events = {"eval-failed"};
  echoing.allow_private_network = true;
  ASSERT_TRUE(store_->AddWebhook(echoing).ok());
  NewWebhook nowhere = echoing;
  nowhere.url = "https://nowhere.invalid/services/T0/B0/" + url_token2;
  nowhere.format = "generic";
  ASSERT_TRUE(store_->AddWebhook(nowhere).ok());

  std::string token_file = dir_.Sub("token");
  ::tw::testing::WriteTestFile(token_file, api_token + "\n");
  ::chmod(token_file.c_str(), 0600);
  Options options;
  options.api = true;
  options.extra = "token_file = \"" + token_file + "\"\n";
  auto daemon = StartDaemon("d", options);
  Checkpoint("run", "bad.pt", "TWFAKE:BADARG");  // dead at once: an eval-failed event
  ASSERT_TRUE(WaitFor(
      [&] {
        auto deliveries = store_->ListDeliveries(std::nullopt, std::nullopt, 10);
        if (!deliveries.ok() || deliveries->size() != 2) return false;
        for (const auto& d : *deliveries) {
          if (d.attempts < 1) return false;
        }
        return true;
      },
      60s))
      << daemon->Log();

  int port = ApiPort(*daemon);
  ASSERT_GT(port, 0);
  httplib::Client client("127.0.0.1", port);
  httplib::Headers auth = {{"Authorization", "Bearer " + api_token}};
  for (const char* path : {"/metrics", "/v1/jobs?state=dead", "/v1/status", "/v1"}) {
    auto response = client.Get(path, auth);
    ASSERT_TRUE(response) << path;
    EXPECT_EQ(response->status, 200) << path;
    expect_clean(path, response->body);
  }
  for (const char* path : {"/v1/jobs", "/metrics"}) {
    auto anonymous = client.Get(path);
    ASSERT_TRUE(anonymous);
    EXPECT_EQ(anonymous->status, 401);
    expect_clean(std::string("401 of ") + path, anonymous->body);
    auto wrong = client.Get(path, {{"Authorization", "Bearer " + api_token.substr(0, 20)}});
    ASSERT_TRUE(wrong);
    EXPECT_EQ(wrong->status, 401);
    expect_clean(std::string("401 (token prefix) of ") + path, wrong->body);
  }
  for (std::vector<std::string> args : {std::vector<std::string>{"webhook", "list"},
                                        {"webhook", "list", "--format", "json"},
                                        {"webhook", "deliveries"},
                                        {"webhook", "deliveries", "--format", "json"},
                                        {"jobs", "list", "--state", "dead", "--format", "json"},
                                        {"status"}}) {
    args.insert(args.begin(), {"--database", db_->conninfo()});
    auto result = ::tw::testing::RunCli(args);
    EXPECT_EQ(result.exit_code, 0) << result.output;
    std::string command = "transferwatch";
    for (size_t i = 2; i < args.size(); ++i) command += " " + args[i];
    expect_clean(command, result.output);
  }
  Stop(*daemon);
  expect_clean("the daemon's log", daemon->Log());

  // A database URL with a password that cannot be reached: daemon and CLI say so without it.
  std::string bad_url = "postgresql://tw:" + db_password + "@127.0.0.1:1/tw";
  DaemonProcess unreachable(
      TW_DAEMON_PATH,
      {"--watch", root_, "--database", bad_url, "--state-dir", dir_.Sub("state-unreachable")},
      dir_.Sub("unreachable.log"));
  EXPECT_EQ(unreachable.Wait(30s), std::optional<int>(4)) << unreachable.Log();
  EXPECT_THAT(unreachable.Log(), HasSubstr("127.0.0.1"));
  expect_clean("an unreachable database's daemon log", unreachable.Log());
  auto cli = ::tw::testing::RunCli({"--database", bad_url, "status"});
  EXPECT_EQ(cli.exit_code, 4) << cli.output;
  expect_clean("an unreachable database's CLI output", cli.output);
}

}  // namespace
}  // namespace tw
