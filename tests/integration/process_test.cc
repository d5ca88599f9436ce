// RunProcess with real child processes: exit codes, signals, timeouts, line streaming, and
// stopping a child on request (the daemon's shutdown and lost-lease path).
#include "common/process.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <signal.h>
#include <sys/prctl.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <atomic>
#include <chrono>
#include <fstream>
#include <thread>

#include "tests/testing/status_matchers.h"
#include "tests/testing/temp_dir.h"

namespace tw {
namespace {

using ::testing::HasSubstr;
using ::tw::testing::StatusIs;

ProcessSpec Shell(const std::string& script) {
  ProcessSpec spec;
  spec.argv = {"/bin/sh", "-c", script};
  spec.timeout = std::chrono::seconds(20);
  return spec;
}

TEST(ProcessTest, ReportsExitCodesSignalsAndLines) {
  ProcessSpec spec = Shell("echo one; echo two >&2; echo three; exit 3");
  std::vector<std::string> lines;
  spec.on_stdout_line = [&](std::string_view line) { lines.emplace_back(line); };
  TW_ASSERT_OK_AND_ASSIGN(ProcessResult result, RunProcess(spec));
  EXPECT_EQ(result.exit_code, 3);
  EXPECT_EQ(lines, (std::vector<std::string>{"one", "three"}));
  EXPECT_THAT(result.output, HasSubstr("two"));

  TW_ASSERT_OK_AND_ASSIGN(ProcessResult crashed, RunProcess(Shell("kill -SEGV $$")));
  EXPECT_EQ(crashed.signal, SIGSEGV);
  EXPECT_FALSE(crashed.ok());
  EXPECT_THAT(crashed.Describe(), HasSubstr("signal 11"));

  ProcessSpec missing;
  missing.argv = {"/nonexistent/program"};
  EXPECT_THAT(RunProcess(missing),
              StatusIs(StatusCode::kNotFound, HasSubstr("/nonexistent/program")));
}

TEST(ProcessTest, TimesOutAndKillsTheWholeGroup) {
  ProcessSpec spec = Shell("sleep 30 & sleep 30");
  spec.timeout = std::chrono::milliseconds(300);
  auto start = std::chrono::steady_clock::now();
  EXPECT_THAT(RunProcess(spec), StatusIs(StatusCode::kDeadlineExceeded, HasSubstr("killed")));
  EXPECT_LT(std::chrono::steady_clock::now() - start, std::chrono::seconds(10));
}

TEST(ProcessTest, StopsAChildWhenAskedWithTermThenKill) {
  // Polite child: exits on SIGTERM.
  std::atomic<int> asked{0};
  ProcessSpec polite = Shell("echo started; exec sleep 30");
  bool started = false;
  polite.on_stdout_line = [&](std::string_view) { started = true; };
  polite.keep_going = [&] { return ++asked < 2 || !started; };
  EXPECT_THAT(RunProcess(polite), StatusIs(StatusCode::kCancelled, HasSubstr("stopped")));
  EXPECT_GE(asked.load(), 2);

  // A child that ignores SIGTERM is killed after the grace period.
  ProcessSpec stubborn = Shell("trap '' TERM; echo started; while :; do sleep 0.05; done");
  stubborn.stop_grace = std::chrono::milliseconds(200);
  bool stubborn_started = false;
  stubborn.on_stdout_line = [&](std::string_view) { stubborn_started = true; };
  stubborn.keep_going = [&] { return !stubborn_started; };
  auto start = std::chrono::steady_clock::now();
  EXPECT_THAT(RunProcess(stubborn), StatusIs(StatusCode::kCancelled, ::testing::_));
  EXPECT_LT(std::chrono::steady_clock::now() - start, std::chrono::seconds(10));
}

TEST(ProcessTest, TheChildsExitEndsTheWaitEvenIfADescendantHoldsItsPipes) {
  // The shell exits at once; the background sleep keeps stdout open. The wait ends with the
  // shell, and the leftover is killed with its process group.
  ProcessSpec spec = Shell("sleep 30 & echo started");
  spec.timeout = std::chrono::seconds(20);
  std::vector<std::string> lines;
  spec.on_stdout_line = [&](std::string_view line) { lines.emplace_back(line); };
  auto start = std::chrono::steady_clock::now();
  TW_ASSERT_OK_AND_ASSIGN(ProcessResult result, RunProcess(spec));
  EXPECT_EQ(result.exit_code, 0);
  EXPECT_EQ(lines, std::vector<std::string>{"started"});
  EXPECT_LT(std::chrono::steady_clock::now() - start, std::chrono::seconds(5));

  // A child that closes its pipes and runs on is still asked keep_going, and stopped.
  ProcessSpec quiet = Shell("exec >/dev/null 2>&1; sleep 30");
  int asked = 0;
  quiet.keep_going = [&] { return ++asked < 2; };
  quiet.stop_grace = std::chrono::milliseconds(200);
  start = std::chrono::steady_clock::now();
  EXPECT_THAT(RunProcess(quiet), StatusIs(StatusCode::kCancelled, ::testing::_));
  EXPECT_LT(std::chrono::steady_clock::now() - start, std::chrono::seconds(10));
}

// The evaluator sandbox runs the child as another user. Changing uid clears the parent-death
// signal, so it is armed after the switch: a parent killed with SIGKILL takes the child along.
TEST(ProcessTest, AChildRunAsAnotherUserDiesWithItsParent) {
  // Like every test here it fails rather than skips when it cannot prove its point.
  ASSERT_EQ(::geteuid(), 0u) << "run_as needs root: run the suite as root (CI does)";
  auto nobody = LookupUser("nobody");
  ASSERT_TRUE(nobody.ok()) << nobody.status().ToString();
  testing::TempDir dir;
  ::chmod(dir.path().c_str(), 0777);
  std::string pid_file = dir.path() + "/child.pid";
  // The orphaned grandchild is reparented to us, so we can reap it and see how it ended.
  ASSERT_EQ(::prctl(PR_SET_CHILD_SUBREAPER, 1), 0);
  pid_t parent = ::fork();
  ASSERT_GE(parent, 0);
  if (parent == 0) {  // the stand-in for a daemon: runs the child, then is killed
    ProcessSpec spec = Shell("echo $$ > " + pid_file + ".tmp && mv " + pid_file + ".tmp " +
                             pid_file + " && exec sleep 60");
    spec.run_as = *nobody;
    spec.timeout = std::chrono::seconds(60);
    (void)RunProcess(spec);
    ::_exit(0);
  }
  pid_t child = 0;
  for (int i = 0; i < 200 && child == 0; ++i) {
    std::ifstream in(pid_file);
    if (!(in >> child)) child = 0;
    if (child == 0) std::this_thread::sleep_for(std::chrono::milliseconds(50));
  }
  ASSERT_GT(child, 0) << "the child never started";
  ::kill(parent, SIGKILL);
  ASSERT_EQ(::waitpid(parent, nullptr, 0), parent);
  int status = 0;
  pid_t reaped = 0;
  for (int i = 0; i < 100 && reaped == 0; ++i) {
    reaped = ::waitpid(child, &status, WNOHANG);
    if (reaped == 0) std::this_thread::sleep_for(std::chrono::milliseconds(50));
  }
  if (reaped == 0) ::kill(child, SIGKILL);
  ::prctl(PR_SET_CHILD_SUBREAPER, 0);
  ASSERT_EQ(reaped, child) << "the child outlived its parent by 5 s";
  EXPECT_TRUE(WIFSIGNALED(status) && WTERMSIG(status) == SIGKILL);
}

}  // namespace
}  // namespace tw
