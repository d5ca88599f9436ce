// transferwatchd with the real transferwatch-eval: a TorchScript model (written by Debian's
// PyTorch) dropped into a watched run folder is evaluated on a registered dataset of real PNG
// files, and `transferwatch eval` of the same file afterwards finds the daemon's result under
// the very same evaluation key (CLI and daemon plan through one runner/plan).
#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <signal.h>
#include <sys/stat.h>
#include <sys/wait.h>

#include <filesystem>

#include "tests/testing/cli.h"
#include "tests/testing/daemon_process.h"
#include "tests/testing/paths.h"
#include "tests/testing/temp_dir.h"

namespace tw {
namespace {

using namespace std::chrono_literals;
using ::tw::testing::DaemonProcess;
using ::tw::testing::TempDir;
using ::tw::testing::WaitFor;

constexpr const char* kMakeModelAndImages = R"PY(
import os, sys
import torch
from PIL import Image
out = sys.argv[1]
torch.manual_seed(0)
class Tiny(torch.nn.Module):
    def __init__(self):
        super().__init__()
        self.fc = torch.nn.Linear(3, 1000)
    def forward(self, x):
        return self.fc(x.mean(dim=(2, 3)))
torch.jit.script(Tiny().eval()).save(os.path.join(out, "model.pt"))
for c, wnid in enumerate(["n01440764", "n01443537"]):
    os.makedirs(os.path.join(out, "data", wnid), exist_ok=True)
    for i in range(3):
        color = (40 * i + 100 * c, 200 - 50 * i, 30 + 60 * c)
        Image.new("RGB", (64, 48), color).save(os.path.join(out, "data", wnid, f"img{i}.png"))
)PY";

TEST(DaemonRealEvaluatorTest, EvaluatesADroppedTorchScriptModelUnderTheCliKey) {
  TempDir dir;
  ::chmod(dir.path().c_str(), 0755);
  std::string script = dir.Sub("make.py");
  ::tw::testing::WriteTestFile(script, kMakeModelAndImages);
  std::string command =
      "/usr/bin/python3 '" + script + "' '" + dir.path() + "' > '" + dir.Sub("make.log") + "' 2>&1";
  int status = std::system(command.c_str());
  ASSERT_TRUE(WIFEXITED(status) && WEXITSTATUS(status) == 0)
      << ::tw::testing::ReadTestFile(dir.Sub("make.log"));
  for (const auto& entry : std::filesystem::recursive_directory_iterator(dir.path())) {
    ::chmod(entry.path().c_str(), entry.is_directory() ? 0755 : 0644);
  }
  std::string state = dir.Sub("state");
  std::string root = dir.Sub("watch");
  std::filesystem::create_directories(root + "/baseline");
  ::chmod(root.c_str(), 0755);
  ::chmod((root + "/baseline").c_str(), 0755);
  auto added = ::tw::testing::RunCli(
      {"--state-dir", state, "dataset", "add", "val", dir.Sub("data"), "--layout", "wnid-folders",
       "--classes", std::string(::tw::testing::ImagenetDataDir()) + "/imagenet_synsets.txt"});
  ASSERT_EQ(added.exit_code, 0) << added.output;

  DaemonProcess daemon(std::string(::tw::testing::CliPath())
                               .substr(0, std::string(::tw::testing::CliPath()).rfind('/')) +
                           "/transferwatchd",
                       {"--watch", root, "--state-dir", state, "--api-port", "0"},
                       dir.Sub("daemon.log"));
  std::string target = root + "/baseline/epoch_003.pt";
  std::filesystem::copy_file(dir.Sub("model.pt"), target + ".part");
  ::chmod((target + ".part").c_str(), 0644);
  std::filesystem::rename(target + ".part", target);

  nlohmann::json results;
  ASSERT_TRUE(WaitFor(
      [&] {
        results = ::tw::testing::RunCliJson({"--state-dir", state, "results"});
        return results.is_object() && results["results"].size() == 1;
      },
      120s))
      << daemon.Log();
  EXPECT_EQ(results["results"][0]["checkpoint"], "baseline/epoch_003.pt");
  EXPECT_EQ(results["results"][0]["dataset"], "val");

  // The CLI plans the same key, so it answers from the daemon's record.
  auto cli = ::tw::testing::RunCliJson({"--state-dir", state, "eval", target, "--dataset", "val"});
  ASSERT_TRUE(cli.is_object());
  ASSERT_EQ(cli["evaluations"].size(), 1u);
  EXPECT_EQ(cli["evaluations"][0]["cached"], true) << cli.dump();
  EXPECT_DOUBLE_EQ(cli["evaluations"][0]["top1"].get<double>(),
                   results["results"][0]["top1"].get<double>());

  daemon.Signal(SIGTERM);
  EXPECT_EQ(daemon.Wait(60s), std::optional<int>(0)) << daemon.Log();
  ::tw::testing::RunCli({"--state-dir", state, "db", "stop"});
}

}  // namespace
}  // namespace tw
