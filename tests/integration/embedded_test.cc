// The embedded default with real processes: the first command creates a private cluster, many
// concurrent commands share it, it stops when the last leaves, `db start` pins it, and it runs
// as an unprivileged user when the CLI runs as root.
#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <signal.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <filesystem>
#include <future>
#include <nlohmann/json.hpp>

#include "common/process.h"
#include "store/embedded_cluster.h"
#include "tests/testing/cli.h"
#include "tests/testing/paths.h"
#include "tests/testing/temp_dir.h"

namespace tw {
namespace {

using ::testing::HasSubstr;
using ::tw::testing::TempDir;

ProcessResult RunCli(const std::string& state_dir, const std::vector<std::string>& args,
                     std::optional<UserIdentity> as = std::nullopt,
                     const std::string& cli = ::tw::testing::CliPath()) {
  std::vector<std::string> all = {"--state-dir", state_dir};
  all.insert(all.end(), args.begin(), args.end());
  return ::tw::testing::RunCli(::tw::testing::CliCall{all, {}, as, cli});
}

nlohmann::json Status(const std::string& state_dir) {
  auto result = RunCli(state_dir, {"db", "status", "--format", "json"});
  EXPECT_EQ(result.exit_code, 0) << result.output;
  return nlohmann::json::parse(result.output, nullptr, false);
}

uid_t OwnerOf(const std::string& path) {
  struct stat st {};
  EXPECT_EQ(::stat(path.c_str(), &st), 0) << path;
  return st.st_uid;
}

TEST(EmbeddedClusterTest, FirstCommandCreatesTheClusterAndTheLastUserStopsIt) {
  TempDir dir;
  std::string state = dir.Sub("state");
  auto before = Status(state);
  EXPECT_FALSE(before["initialized"].get<bool>());
  EXPECT_FALSE(before["running"].get<bool>());

  auto import = RunCli(state, {"import", "timm", ::tw::testing::TimmResultsDir()});
  ASSERT_EQ(import.exit_code, 0) << import.output;
  auto after = Status(state);
  EXPECT_TRUE(after["initialized"].get<bool>());
  EXPECT_FALSE(after["running"].get<bool>()) << "stopped when the last user left";

  // The data survive the stop; the next command starts the cluster again.
  auto results = RunCli(state, {"results", "--dataset", "imagenet", "--format", "json"});
  ASSERT_EQ(results.exit_code, 0) << results.output;
  EXPECT_EQ(nlohmann::json::parse(results.output)["results"].size(), 1556u);
  // No TCP: the server is configured for its private socket only.
  std::string conf = ::tw::testing::ReadTestFile(state + "/pg/data/transferwatch.conf");
  EXPECT_THAT(conf, HasSubstr("listen_addresses = ''"));
}

TEST(EmbeddedClusterTest, ConcurrentCommandsShareOneCluster) {
  TempDir dir;
  std::string state = dir.Sub("state");
  constexpr int kCommands = 6;
  std::vector<std::future<ProcessResult>> running;
  for (int i = 0; i < kCommands; ++i) {
    running.push_back(std::async(std::launch::async, [&, i] {
      // Half import (the same data: recorded once), half read.
      if (i % 2 == 0) return RunCli(state, {"import", "timm", ::tw::testing::TimmResultsDir()});
      return RunCli(state, {"dataset", "list"});
    }));
  }
  for (auto& r : running) {
    ProcessResult result = r.get();
    EXPECT_EQ(result.exit_code, 0) << result.output;
  }
  auto status = Status(state);
  EXPECT_FALSE(status["running"].get<bool>());
  auto count = RunCli(state, {"db", "start"});
  ASSERT_EQ(count.exit_code, 0) << count.output;
  auto pinned = Status(state);
  EXPECT_TRUE(pinned["running"].get<bool>());
  EXPECT_TRUE(pinned["pinned"].get<bool>());
  EXPECT_EQ(pinned["evaluations"].get<int>(), 8 * 1556) << "each evaluation recorded once";
  auto stop = RunCli(state, {"db", "stop"});
  ASSERT_EQ(stop.exit_code, 0) << stop.output;
  EXPECT_FALSE(Status(state)["running"].get<bool>());
}

TEST(EmbeddedClusterTest, ALongStateDirectoryGetsAShortSocketDirectory) {
  TempDir dir;
  std::string state = dir.Sub(std::string(80, 'd') + "/state");
  auto result = RunCli(state, {"dataset", "list"});
  ASSERT_EQ(result.exit_code, 0) << result.output;
  auto status = Status(state);
  EXPECT_EQ(status["socket_dir"].get<std::string>().rfind("/tmp/tw-", 0), 0u);
}

TEST(EmbeddedClusterTest, RunsAsANormalUser) {
  TempDir dir;
  std::string state = dir.Sub("state");
  std::optional<UserIdentity> as;
  std::string cli = ::tw::testing::CliPath();
  std::string timm = ::tw::testing::TimmResultsDir();
  if (::geteuid() == 0) {
    // Root plays the normal user with `nobody`, in a directory nobody owns. The checkout may
    // sit where nobody cannot reach (/root), so the program and the data are copied out.
    auto nobody = LookupUser("nobody");
    ASSERT_TRUE(nobody.ok()) << nobody.status().ToString();
    as = *nobody;
    ASSERT_EQ(::mkdir(state.c_str(), 0700), 0);
    ASSERT_EQ(::chown(state.c_str(), as->uid, as->gid), 0);
    std::filesystem::copy_file(cli, dir.Sub("transferwatch"));
    std::filesystem::copy(timm, dir.Sub("timm"));
    cli = dir.Sub("transferwatch");
    timm = dir.Sub("timm");
  }
  auto result = RunCli(state, {"import", "timm", timm}, as, cli);
  ASSERT_EQ(result.exit_code, 0) << result.output;
  uid_t expected = as ? as->uid : ::geteuid();
  EXPECT_EQ(OwnerOf(state + "/pg/data"), expected);
  auto status_run = RunCli(state, {"db", "status", "--format", "json"}, as, cli);
  ASSERT_EQ(status_run.exit_code, 0) << status_run.output;
  auto status = nlohmann::json::parse(status_run.output);
  EXPECT_TRUE(status["initialized"].get<bool>());
  EXPECT_FALSE(status["running"].get<bool>());
}

TEST(EmbeddedClusterTest, AsRootTheClusterRunsAsAnUnprivilegedUser) {
  if (::geteuid() != 0) GTEST_SKIP() << "needs root; CI runs the suite as root";
  TempDir dir;
  std::string state = dir.Sub("state");
  auto result = RunCli(state, {"dataset", "list"});
  ASSERT_EQ(result.exit_code, 0) << result.output;
  EXPECT_NE(OwnerOf(state + "/pg/data"), 0u);
  auto status = Status(state);
  EXPECT_NE(status["cluster_user"], "root");

  // A state directory the cluster user cannot reach is refused with the reason.
  std::string hidden = dir.Sub("private");
  ASSERT_EQ(::mkdir(hidden.c_str(), 0700), 0);
  auto refused = RunCli(hidden + "/state", {"dataset", "list"});
  EXPECT_EQ(refused.exit_code, 1);
  EXPECT_THAT(refused.output, HasSubstr("cannot reach " + hidden + "/state"));
  EXPECT_THAT(refused.output, HasSubstr("has mode 0700"));
}

// A process that uses the cluster until it is killed: the library's Acquire in a forked child.
class ClusterUser {
 public:
  explicit ClusterUser(const std::string& state_dir) {
    int fds[2];
    EXPECT_EQ(::pipe(fds), 0);
    pid_ = ::fork();
    if (pid_ == 0) {
      ::close(fds[0]);
      EmbeddedClusterOptions options;
      options.state_dir = state_dir;
      auto cluster = EmbeddedCluster::Acquire(options);
      char ok = cluster.ok() ? 'y' : 'n';
      if (::write(fds[1], &ok, 1) != 1) ::_exit(1);
      while (true) ::pause();
    }
    ::close(fds[1]);
    char ok = 'n';
    EXPECT_EQ(::read(fds[0], &ok, 1), 1);
    EXPECT_EQ(ok, 'y') << "the child could not acquire the cluster";
    ::close(fds[0]);
  }
  ~ClusterUser() { Kill(); }
  void Kill() {
    if (pid_ > 0) {
      ::kill(pid_, SIGKILL);
      ::waitpid(pid_, nullptr, 0);
      pid_ = -1;
    }
  }

 private:
  pid_t pid_ = -1;
};

TEST(EmbeddedClusterTest, AKilledUserLeaksNoReference) {
  TempDir dir;
  std::string state = dir.Sub("state");
  ClusterUser user(state);
  ASSERT_TRUE(Status(state)["running"].get<bool>());
  // Another user comes and goes: the first still holds the cluster.
  ASSERT_EQ(RunCli(state, {"dataset", "list"}).exit_code, 0);
  EXPECT_TRUE(Status(state)["running"].get<bool>());
  // SIGKILL: no Leave() runs, but the kernel drops its flock, so the next user that leaves is
  // the last one and stops the cluster.
  user.Kill();
  EXPECT_TRUE(Status(state)["running"].get<bool>());
  ASSERT_EQ(RunCli(state, {"dataset", "list"}).exit_code, 0);
  EXPECT_FALSE(Status(state)["running"].get<bool>());
}

TEST(EmbeddedClusterTest, DbStopWaitsForUsersUnlessForced) {
  TempDir dir;
  std::string state = dir.Sub("state");
  ASSERT_EQ(RunCli(state, {"db", "start"}).exit_code, 0);
  ClusterUser user(state);
  auto polite = RunCli(state, {"db", "stop"});
  ASSERT_EQ(polite.exit_code, 0) << polite.output;
  EXPECT_THAT(polite.output, HasSubstr("still in use"));
  auto status = Status(state);
  EXPECT_TRUE(status["running"].get<bool>());
  EXPECT_FALSE(status["pinned"].get<bool>());
  auto forced = RunCli(state, {"db", "stop", "--force"});
  ASSERT_EQ(forced.exit_code, 0) << forced.output;
  EXPECT_FALSE(Status(state)["running"].get<bool>());
}

TEST(EmbeddedClusterTest, ASquattedSocketDirectoryIsRefused) {
  TempDir dir;
  // Long enough that the socket goes to /tmp, where anyone could have made the folder first.
  std::string state = dir.Sub(std::string(90, 's'));
  std::string socket_dir = Status(state)["socket_dir"].get<std::string>();
  ASSERT_EQ(socket_dir.rfind("/tmp/tw-", 0), 0u);
  ::rmdir(socket_dir.c_str());
  ASSERT_EQ(::mkdir(socket_dir.c_str(), 0777), 0);
  ::chmod(socket_dir.c_str(), 0777);
  auto refused = RunCli(state, {"dataset", "list"});
  EXPECT_NE(refused.exit_code, 0);
  EXPECT_THAT(refused.output, HasSubstr("is not a private directory"));
  ::rmdir(socket_dir.c_str());
  auto fine = RunCli(state, {"dataset", "list"});
  EXPECT_EQ(fine.exit_code, 0) << fine.output;
}

}  // namespace
}  // namespace tw
