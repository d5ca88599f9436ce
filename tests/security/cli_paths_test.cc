// Inputs that take paths outside the HTTP API, against the traversal corpus of the MLflow CVE
// classes (research H7, F7): `transferwatch dataset add` (its folder walk and its labels file),
// and the daemon's watch roots. Real processes on a real PostgreSQL; a canary outside each root,
// watched with inotify, must never be opened or recorded.
#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <sys/stat.h>

#include <filesystem>
#include <fstream>
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "tests/security/open_watch.h"
#include "tests/testing/cli.h"
#include "tests/testing/pg_test.h"
#include "tests/testing/temp_dir.h"

namespace tw {
namespace {

using ::testing::AllOf;
using ::testing::AnyOf;
using ::testing::HasSubstr;
using ::testing::Not;
using ::tw::testing::OpenWatch;
using ::tw::testing::ScratchDatabase;
using ::tw::testing::TempDir;
using ::tw::testing::WriteTestFile;

class DatasetPathsTest : public ::testing::Test {
 protected:
  void SetUp() override {
    db_ = std::make_unique<ScratchDatabase>();
    ASSERT_TRUE(db_->ok());
    data_ = dir_.Sub("data");
    outside_ = dir_.Sub("outside");
    for (const char* cls : {"cat", "dog"}) {
      for (int i = 0; i < 2; ++i) {
        Write(data_ + "/" + cls + "/img" + std::to_string(i) + ".png", cls);
      }
    }
    std::filesystem::create_directories(outside_ + "/cat");
    canary_ = outside_ + "/cat/canary.png";
    Write(canary_, "CANARY");
  }

  static void Write(const std::string& path, const std::string& bytes) {
    std::filesystem::create_directories(std::filesystem::path(path).parent_path());
    WriteTestFile(path, bytes + path);
  }

  ProcessResult Cli(std::vector<std::string> args) {
    args.insert(args.begin(), {"--database", db_->conninfo()});
    return ::tw::testing::RunCli(std::move(args));
  }

  // Every registered dataset's files (dataset show), for "the canary was never recorded".
  std::vector<std::string> RegisteredDatasets() {
    nlohmann::json doc =
        ::tw::testing::RunCliJson({"--database", db_->conninfo(), "dataset", "list"});
    std::vector<std::string> names;
    for (const auto& d : doc["datasets"]) names.push_back(d["name"]);
    return names;
  }

  TempDir dir_;
  std::unique_ptr<ScratchDatabase> db_;
  std::string data_, outside_, canary_;
};

// A labels file names images relative to the dataset folder; names that lead out of it are not
// images of the folder, whatever their spelling.
TEST_F(DatasetPathsTest, LabelsFileEntriesOutsideTheFolderAreRefusedByLine) {
  OpenWatch opens(outside_ + "/cat");
  using namespace std::string_literals;  // NOLINT: "..."s keeps the NUL bytes
  const std::vector<std::string> corpus = {
      "../outside/cat/canary.png",
      "cat/../../outside/cat/canary.png",
      "%2e%2e%2foutside%2fcat%2fcanary.png",
      "%252e%252e%252foutside%252fcat%252fcanary.png",
      "..\\outside\\cat\\canary.png",
      "\\..\\outside\\cat\\canary.png",
      "..;/outside/cat/canary.png",
      "cat/img0.png#/../../../outside/cat/canary.png",
      canary_,
      "/etc/passwd",
      "cat/img0.png\0/../../outside/cat/canary.png"s,
      "cat/img0.png%00/../../outside/cat/canary.png",
      "file://" + canary_,
      "file:" + canary_,
      "./cat/img0.png",
      "cat//img0.png",
  };
  for (const std::string& entry : corpus) {
    SCOPED_TRACE(::testing::PrintToString(entry));
    const std::string labels = dir_.Sub("labels.csv");
    // Every real image gets its label; the hostile entry is line 5.
    std::ofstream out(labels, std::ios::binary);
    out << "cat/img0.png,0\ncat/img1.png,0\ndog/img0.png,1\ndog/img1.png,1\n" << entry << ",0\n";
    out.close();
    ProcessResult added =
        Cli({"dataset", "add", "hostile", data_, "--layout", "labels-file", "--labels", labels});
    EXPECT_EQ(added.exit_code, 2) << added.output;
    EXPECT_THAT(added.output, HasSubstr(labels + ":5")) << "the error names the file and line";
  }
  EXPECT_TRUE(RegisteredDatasets().empty());
  EXPECT_EQ(opens.Drain(), std::set<std::string>{});
}

// Symlinks inside the dataset folder that lead out of it (a file, a class folder) stop the
// registration with the symlink named; the target is resolved, never opened.
TEST_F(DatasetPathsTest, SymlinksOutOfTheFolderAreRefusedAndTheirTargetsNeverOpened) {
  OpenWatch opens(outside_ + "/cat");
  struct Case {
    std::string link;    // inside data_
    std::string target;  // outside
  };
  for (const Case& c : std::vector<Case>{
           {"cat/evil.png", canary_},
           {"evil-class", outside_ + "/cat"},
           {"cat/relative.png", "../../outside/cat/canary.png"},
           {"cat/passwd.png", "/etc/passwd"},
       }) {
    SCOPED_TRACE(c.link + " -> " + c.target);
    const std::string link = data_ + "/" + c.link;
    std::filesystem::create_symlink(c.target, link);
    ProcessResult added = Cli({"dataset", "add", "hostile", data_, "--layout", "wnid-folders"});
    EXPECT_EQ(added.exit_code, 2) << added.output;
    EXPECT_THAT(added.output, AllOf(HasSubstr(link), HasSubstr("leaves the dataset folder")));
    std::filesystem::remove(link);
  }
  // A symlink that stays inside is followed (a folder tree may link its own files).
  std::filesystem::create_symlink(data_ + "/cat/img0.png", data_ + "/dog/alias.png");
  ProcessResult inside = Cli({"dataset", "add", "fine", data_, "--layout", "wnid-folders"});
  EXPECT_EQ(inside.exit_code, 0) << inside.output;
  EXPECT_EQ(RegisteredDatasets(), std::vector<std::string>{"fine"});
  EXPECT_EQ(opens.Drain(), std::set<std::string>{});
}

// The dataset folder itself must exist as a folder: URIs and NUL tricks are not folders.
TEST_F(DatasetPathsTest, DatasetFolderArgumentsThatAreNotFoldersAreRefused) {
  for (const std::string& folder :
       {"file://" + data_, "file:" + data_, data_ + "%00", data_ + "/cat/img0.png",
        std::string("/nonexistent/../") + data_, data_ + "\\..\\"}) {
    SCOPED_TRACE(folder);
    ProcessResult added = Cli({"dataset", "add", "bad", folder, "--layout", "wnid-folders"});
    EXPECT_NE(added.exit_code, 0) << added.output;
    EXPECT_THAT(added.output, AnyOf(HasSubstr("dataset folder"), HasSubstr("not a folder")))
        << added.output;
  }
  EXPECT_TRUE(RegisteredDatasets().empty());
}

ProcessResult RunDaemon(std::vector<std::string> args) {
  ::tw::testing::CliCall call;
  call.args = std::move(args);
  call.program = TW_DAEMON_PATH;
  return ::tw::testing::RunCli(call);
}

// watch.roots in the daemon's config: only absolute folder paths. Checked by
// `transferwatchd --check-config`, which starts nothing, and by a real start.
TEST(WatchRootConfigTest, RootsThatAreNotAbsoluteFolderPathsAreRefusedNamingTheRoot) {
  TempDir dir;
  std::filesystem::create_directories(dir.Sub("root"));
  for (const std::string& root :
       {std::string("relative/root"), std::string("../outside"), std::string("file:///etc"),
        "file:" + dir.Sub("root"), std::string("~/checkpoints"), std::string("\\\\..\\\\etc"),
        std::string("%2e%2e%2fetc"), std::string("")}) {
    SCOPED_TRACE(root);
    const std::string config = dir.Sub("daemon.toml");
    WriteTestFile(config, "[watch]\nroots = [\"" + root + "\"]\n");
    ProcessResult checked = RunDaemon({"--config", config, "--check-config"});
    EXPECT_EQ(checked.exit_code, 2) << checked.output;
    EXPECT_THAT(checked.output, HasSubstr("watch root")) << checked.output;
    EXPECT_THAT(checked.output, HasSubstr("absolute")) << checked.output;
  }
  // A NUL byte inside a root would cut the path short where the kernel reads it.
  const std::string config = dir.Sub("nul.toml");
  WriteTestFile(config, "[watch]\nroots = [\"" + dir.Sub("root") + "\\u0000/../../etc\"]\n");
  ProcessResult nul = RunDaemon({"--config", config, "--check-config"});
  EXPECT_EQ(nul.exit_code, 2) << nul.output;
  EXPECT_THAT(nul.output, AllOf(HasSubstr("watch.roots"), HasSubstr("NUL"))) << nul.output;
  // And --watch on the command line must name an existing folder.
  ProcessResult missing = RunDaemon({"--watch", dir.Sub("root") + "/../nowhere", "--check-config"});
  EXPECT_NE(missing.exit_code, 0) << missing.output;
  EXPECT_THAT(missing.output, HasSubstr("--watch")) << missing.output;
}

}  // namespace
}  // namespace tw
