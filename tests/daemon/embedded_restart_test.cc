// `transferwatchd --watch DIR` alone, on the embedded database shared with the CLI, and a real
// PostgreSQL restart under it: the daemon reconnects with backoff and loses nothing.
#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <signal.h>
#include <sys/stat.h>

#include <filesystem>
#include <thread>

#include "tests/testing/cli.h"
#include "tests/testing/daemon_process.h"
#include "tests/testing/temp_dir.h"
#include "tests/unit/watch/zip_fixtures.h"

namespace tw {
namespace {

using ::testing::HasSubstr;
using ::tw::testing::DaemonProcess;
using ::tw::testing::TempDir;
using ::tw::testing::WaitFor;
using namespace std::chrono_literals;

TEST(EmbeddedDaemonTest, SurvivesARestartOfItsDatabase) {
  TempDir dir;
  ::chmod(dir.path().c_str(), 0755);
  std::string state = dir.Sub("state");
  std::string root = dir.Sub("watch");
  std::string data = dir.Sub("data");
  std::filesystem::create_directories(root + "/run");
  ::chmod(root.c_str(), 0755);
  ::chmod((root + "/run").c_str(), 0755);
  for (int i = 0; i < 3; ++i) {
    std::string path = data + "/n01440764/img" + std::to_string(i) + ".JPEG";
    std::filesystem::create_directories(std::filesystem::path(path).parent_path());
    ::tw::testing::WriteTestFile(path, "image " + std::to_string(i));
  }
  auto cli = [&](std::vector<std::string> args) {
    args.insert(args.begin(), {"--state-dir", state});
    return ::tw::testing::RunCli(args);
  };
  auto evaluations = [&]() -> size_t {
    auto doc = ::tw::testing::RunCliJson({"--state-dir", state, "results"});
    return doc.is_object() && doc.contains("results") ? doc["results"].size() : 0;
  };
  auto added = cli({"dataset", "add", "val", data, "--layout", "wnid-folders"});
  ASSERT_EQ(added.exit_code, 0) << added.output;

  auto write = [&](int i) {
    std::string path = root + "/run/c" + std::to_string(i) + ".pt";
    ASSERT_TRUE(::tw::testing::WriteZip(
        path + ".tmp", ::tw::testing::TorchScriptEntries("weights " + std::to_string(i))));
    ::chmod((path + ".tmp").c_str(), 0644);
    std::filesystem::rename(path + ".tmp", path);
  };
  // No config file: the embedded database, every dataset, default timings.
  DaemonProcess daemon(TW_DAEMON_PATH,
                       {"--watch", root, "--state-dir", state, "--evaluator",
                        TW_FAKE_EVALUATOR_PATH, "--api-port", "0"},
                       dir.Sub("daemon.log"));
  write(0);
  write(1);
  ASSERT_TRUE(WaitFor([&] { return evaluations() == 2; }, 60s)) << daemon.Log();

  // The server goes away under the daemon; checkpoints keep arriving meanwhile.
  auto stopped = cli({"db", "stop", "--force"});
  ASSERT_EQ(stopped.exit_code, 0) << stopped.output;
  write(2);
  write(3);
  std::this_thread::sleep_for(3s);  // the daemon meets the dead connections and backs off
  EXPECT_TRUE(daemon.running()) << daemon.Log();
  auto started = cli({"db", "start"});
  ASSERT_EQ(started.exit_code, 0) << started.output;
  ASSERT_TRUE(WaitFor([&] { return evaluations() == 4; }, 90s)) << daemon.Log();
  EXPECT_THAT(daemon.Log(), HasSubstr("connected to the database again"));

  daemon.Signal(SIGTERM);
  EXPECT_EQ(daemon.Wait(30s), std::optional<int>(0)) << daemon.Log();
  auto final_stop = cli({"db", "stop"});
  EXPECT_EQ(final_stop.exit_code, 0) << final_stop.output;
}

}  // namespace
}  // namespace tw
