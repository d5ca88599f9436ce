// Hostile checkpoints against the real daemon and the real transferwatch-eval sandbox (research
// F9; MLflow CVE-2024-37059, PyTorch CVE-2025-32434): pickles whose __reduce__ runs os.system,
// TorchScript that touches files (torch.from_file: file writes and reads ARE expressible in
// TorchScript, sockets are not), a forward that raises or allocates 1 TiB, and zip bombs. Each
// file is dropped into a watched run folder next to a good model; each must end as a dead job
// after ONE attempt whose error names the checkpoint problem, with no canary created, no
// private file read or changed, the good model evaluated, and the daemon still serving.
//
// The payloads are written by Debian's /usr/bin/python3 (make_malicious.py). The sandbox's user
// switch needs root: as another user the evaluator runs as that user, and this test fails saying
// so rather than proving nothing.
#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <signal.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <filesystem>
#include <map>
#include <string>
#include <vector>

#include "store/pg_store.h"
#include "tests/testing/cli.h"
#include "tests/testing/daemon_process.h"
#include "tests/testing/httplib.h"
#include "tests/testing/paths.h"
#include "tests/testing/pg_test.h"
#include "tests/testing/temp_dir.h"

namespace tw {
namespace {

using namespace std::chrono_literals;
using ::testing::AllOf;
using ::testing::AnyOf;
using ::testing::HasSubstr;
using ::tw::testing::DaemonProcess;
using ::tw::testing::ScratchDatabase;
using ::tw::testing::TempDir;
using ::tw::testing::WaitFor;

std::string ScriptPath() { return TW_MALICIOUS_SCRIPT; }

// What each hostile file must end as: the job's error names this (any of them).
struct Expectation {
  std::vector<std::string> error_mentions;
  bool may_be_refused_at_intake = false;
};

TEST(MaliciousCheckpointTest, EveryHostileFileEndsDeadOnceWithItsReasonAndNothingEscapes) {
  ASSERT_EQ(::geteuid(), 0u) << "the evaluator sandbox switches to an unprivileged user only "
                                "when started by root; run this test as root";
  TempDir dir;
  ::chmod(dir.path().c_str(), 0755);
  const std::string fixtures = dir.Sub("fixtures");
  const std::string canary_dir = dir.Sub("canary");    // world-writable: code as nobody would land
  const std::string private_dir = dir.Sub("private");  // root's
  for (const std::string& d : {fixtures, canary_dir, private_dir}) {
    std::filesystem::create_directories(d);
  }
  ::chmod(canary_dir.c_str(), 0777);
  ::chmod(private_dir.c_str(), 0755);  // readable, not writable, by the evaluator's user
  const std::string victim = private_dir + "/victim";
  const std::string secret = private_dir + "/secret";
  ::tw::testing::WriteTestFile(victim, "victim bytes, unchanged\n");
  ::chmod(victim.c_str(), 0644);
  ::tw::testing::WriteTestFile(secret, "root-only secret\n");
  ::chmod(secret.c_str(), 0600);

  const std::string log = dir.Sub("make.log");
  const std::string command = "/usr/bin/python3 '" + ScriptPath() + "' '" + fixtures + "' '" +
                              canary_dir + "' '" + private_dir + "' > '" + log + "' 2>&1";
  const int made = std::system(command.c_str());
  ASSERT_TRUE(WIFEXITED(made) && WEXITSTATUS(made) == 0)
      << ::tw::testing::ReadTestFile(log)
      << "\nDebian's python3-torch and python3-pil are needed (scripts/setup)";
  for (const auto& entry : std::filesystem::recursive_directory_iterator(fixtures)) {
    ::chmod(entry.path().c_str(), entry.is_directory() ? 0755 : 0644);
  }
  // The canary directory stays empty whatever happens below, unless code from a checkpoint runs.
  ASSERT_TRUE(std::filesystem::is_empty(canary_dir));

  ScratchDatabase db;
  ASSERT_TRUE(db.ok());
  auto added = ::tw::testing::RunCli(
      {"--database", db.conninfo(), "dataset", "add", "val", fixtures + "/data", "--layout",
       "wnid-folders", "--classes",
       std::string(::tw::testing::ImagenetDataDir()) + "/imagenet_synsets.txt"});
  ASSERT_EQ(added.exit_code, 0) << added.output;

  const std::string root = dir.Sub("watch");
  std::filesystem::create_directories(root + "/run");
  ::chmod(root.c_str(), 0755);
  ::chmod((root + "/run").c_str(), 0755);
  const std::string state = dir.Sub("state");
  std::filesystem::create_directories(state);
  ::chmod(state.c_str(), 0755);
  const std::string config = dir.Sub("daemon.toml");
  ::tw::testing::WriteTestFile(
      config, "[watch]\nroots = [\"" + root +
                  "\"]\nsettle = \"200ms\"\nrescan_interval = \"2s\"\n"
                  "[eval]\nevaluator = \"" TW_EVALUATOR_PATH
                  "\"\nmemory_limit_mb = 2048\ntimeout = \"120s\"\n"
                  "[workers]\nslots = 1\nmax_attempts = 3\nretry_backoff = \"100ms\"\n"
                  "poll_interval = \"500ms\"\nplan_interval = \"1s\"\nlease = \"30s\"\n"
                  "heartbeat = \"1s\"\n[api]\nport = 0\n");
  DaemonProcess daemon(TW_DAEMON_PATH,
                       {"--config", config, "--database", db.conninfo(), "--state-dir", state,
                        "--log-level", "info"},
                       dir.Sub("daemon.log"));

  // arch.pt first (the state dicts' architecture), then everything else, each renamed into
  // place as a trainer would.
  auto drop = [&](const std::string& name) {
    const std::string target = root + "/run/" + name;
    std::filesystem::copy_file(fixtures + "/" + name, target + ".part");
    ::chmod((target + ".part").c_str(), 0644);
    std::filesystem::rename(target + ".part", target);
  };
  drop("arch.pt");
  const std::map<std::string, Expectation> hostile = {
      {"reduce_zip.pt", {{"posix.system", "os.system"}}},
      {"reduce_nested.pt", {{"posix.system", "os.system"}}},
      {"ts_create.pt", {{"Permission denied", "permission denied"}}},
      {"ts_overwrite.pt", {{"Permission denied", "permission denied"}}},
      {"ts_read.pt", {{"Permission denied", "permission denied"}}},
      {"ts_raise.pt", {{"hostile model refuses to run"}}},
      {"ts_huge.pt", {{"not enough memory", "memory", "signal"}}},
      {"bomb_inflate.pt", {{"not enough memory", "memory", "too large", "signal"}, true}},
      {"bomb_1tb.pt", {{"not enough memory", "memory", "too large", "signal"}, true}},
  };
  drop("model.pt");
  drop("reduce_legacy.pt");
  for (const auto& [name, expectation] : hostile) drop(name);

  auto store = PgStore::Connect(db.conninfo());
  ASSERT_TRUE(store.ok()) << store.status().ToString();
  auto jobs = [&] {
    JobFilter all;
    all.limit = 1000;
    auto list = (*store)->ListJobs(all);
    EXPECT_TRUE(list.ok()) << list.status().ToString();
    return list.ok() ? *list : std::vector<JobInfo>{};
  };
  auto job_of = [&](const std::string& name) -> std::optional<JobInfo> {
    for (const JobInfo& job : jobs()) {
      if (job.checkpoint == "run/" + name) return job;
    }
    return std::nullopt;
  };
  auto finished = [](const std::optional<JobInfo>& job) {
    return job && (job->state == JobState::kDone || job->state == JobState::kDead);
  };
  // A zip the intake already refuses (its directory is checked without being trusted) never
  // reaches the evaluator: that is containment too, and the log says why.
  auto refused_at_intake = [&](const std::string& name) {
    return daemon.Log().find("refused \"" + root + "/run/" + name + "\"") != std::string::npos;
  };
  ASSERT_TRUE(WaitFor(
      [&] {
        if (!finished(job_of("model.pt"))) return false;
        for (const auto& [name, expectation] : hostile) {
          if (!finished(job_of(name)) && !refused_at_intake(name)) return false;
        }
        return true;
      },
      480s))
      << daemon.Log();

  // The control: the pipeline evaluates a good model.
  EXPECT_EQ(job_of("model.pt")->state, JobState::kDone)
      << job_of("model.pt")->last_error.value_or("");
  for (const auto& [name, expectation] : hostile) {
    SCOPED_TRACE(name);
    const std::optional<JobInfo> job = job_of(name);
    if (!job) {
      EXPECT_TRUE(expectation.may_be_refused_at_intake) << "no job, but it is a valid archive";
      EXPECT_TRUE(refused_at_intake(name));
      continue;
    }
    const std::string error = job->last_error.value_or("");
    EXPECT_EQ(job->state, JobState::kDead) << error;
    EXPECT_EQ(job->attempt, 1) << "a hostile checkpoint is not retried: " << error;
    std::vector<::testing::Matcher<std::string>> any;
    for (const std::string& s : expectation.error_mentions) any.push_back(HasSubstr(s));
    EXPECT_THAT(error, ::testing::AnyOfArray(any));
    std::fprintf(stderr, "[hostile] %s: %s\n", name.c_str(), error.c_str());
  }
  // A pre-1.6 pickle is never unpickled: refused at registration or by the evaluator.
  if (auto legacy = job_of("reduce_legacy.pt")) {
    EXPECT_EQ(legacy->state, JobState::kDead) << legacy->last_error.value_or("");
    EXPECT_EQ(legacy->attempt, 1);
    EXPECT_THAT(legacy->last_error.value_or(""), HasSubstr("legacy"));
  }

  EXPECT_TRUE(std::filesystem::is_empty(canary_dir)) << "code from a checkpoint ran";
  EXPECT_FALSE(std::filesystem::exists(private_dir + "/created"));
  EXPECT_EQ(::tw::testing::ReadTestFile(victim), "victim bytes, unchanged\n");
  // Nothing the evaluator could read of the secret reached a result: no hostile job has one.
  auto results = ::tw::testing::RunCliJson({"--database", db.conninfo(), "results"});
  ASSERT_TRUE(results.is_object());
  for (const auto& r : results["results"]) {
    EXPECT_EQ(r["checkpoint"], "run/model.pt") << r.dump();
  }

  // The daemon is up and answering, and stops cleanly.
  EXPECT_TRUE(daemon.running());
  int port = 0;
  ASSERT_TRUE(WaitFor(
      [&] {
        const std::string text = daemon.Log();
        const auto at = text.find("HTTP API on 127.0.0.1:");
        if (at == std::string::npos) return false;
        port = std::atoi(text.c_str() + at + 22);
        return port > 0;
      },
      10s));
  httplib::Client client("127.0.0.1", port);
  auto health = client.Get("/healthz");
  ASSERT_TRUE(health);
  EXPECT_EQ(health->status, 200);
  daemon.Signal(SIGTERM);
  EXPECT_EQ(daemon.Wait(60s), std::optional<int>(0)) << daemon.Log();
}

}  // namespace
}  // namespace tw
