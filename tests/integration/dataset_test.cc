// `transferwatch dataset add|list|show|verify|remove` with real files and a real PostgreSQL.
// Registration hashes files but does not decode them, so the "images" here are small files
// with image names.
#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>
#include <nlohmann/json.hpp>

#include "tests/testing/cli.h"
#include "tests/testing/paths.h"
#include "tests/testing/pg_test.h"
#include "tests/testing/temp_dir.h"

namespace tw {
namespace {

using ::testing::HasSubstr;
using ::tw::testing::ScratchDatabase;
using ::tw::testing::TempDir;
using ::tw::testing::WriteTestFile;

class DatasetCliTest : public ::testing::Test {
 protected:
  void SetUp() override {
    db_ = std::make_unique<ScratchDatabase>();
    ASSERT_TRUE(db_->ok());
  }

  std::vector<std::string> WithDb(std::vector<std::string> args) {
    args.insert(args.begin(), {"--database", db_->conninfo()});
    return args;
  }
  ProcessResult Cli(std::vector<std::string> args) {
    return ::tw::testing::RunCli(WithDb(std::move(args)));
  }
  nlohmann::json Json(std::vector<std::string> args) {
    return ::tw::testing::RunCliJson(WithDb(std::move(args)));
  }

  // The dataset's entry in `dataset list`.
  nlohmann::json Listed(const std::string& name) {
    nlohmann::json doc = Json({"dataset", "list"});  // kept: the loop reads inside it
    for (const auto& d : doc["datasets"]) {
      if (d["name"] == name) return d;
    }
    ADD_FAILURE() << name << " is not listed";
    return nlohmann::json::object();
  }

  // Writes DIR/<relative> with some bytes.
  void Image(const std::string& dir, const std::string& relative, const std::string& bytes = "x") {
    std::filesystem::create_directories(std::filesystem::path(dir + "/" + relative).parent_path());
    WriteTestFile(dir + "/" + relative, bytes + relative);
  }

  std::string Synsets() {
    return std::string(::tw::testing::ImagenetDataDir()) + "/imagenet_synsets.txt";
  }

  std::unique_ptr<ScratchDatabase> db_;
  TempDir tmp_;
};

TEST_F(DatasetCliTest, WnidFoldersAreVersionedAndVerified) {
  std::string dir = tmp_.Sub("toy");
  for (const char* cls : {"b_class", "a_class"}) {
    for (int i = 0; i < 3; ++i) Image(dir, std::string(cls) + "/img" + std::to_string(i) + ".JPEG");
  }
  Image(dir, "a_class/.hidden.jpg");      // dot-files are ignored
  Image(dir, "a_class/notes.txt");        // not an image
  Image(dir, "a_class/deeper/more.png");  // nested inside a class folder: still that class
  nlohmann::json added = Json({"dataset", "add", "toy", dir, "--layout", "wnid-folders"});
  EXPECT_EQ(added["version"], 1);
  EXPECT_EQ(added["files"], 7);
  nlohmann::json listed = Listed("toy");
  EXPECT_EQ(listed["protocol"]["model_classes"], 2);  // the sorted folder names
  EXPECT_EQ(listed["num_samples"], 7);

  nlohmann::json again = Json({"dataset", "add", "toy", dir, "--layout", "wnid-folders"});
  EXPECT_EQ(again["version"], 1);
  EXPECT_THAT(again["outcome"].get<std::string>(), HasSubstr("unchanged"));

  auto clean = Cli({"dataset", "verify", "toy"});
  EXPECT_EQ(clean.exit_code, 0) << clean.output;
  EXPECT_THAT(clean.output, HasSubstr("7 files re-hashed, 0 added, 0 missing, 0 changed"));

  WriteTestFile(dir + "/a_class/img0.JPEG", "other bytes");
  std::filesystem::remove(dir + "/b_class/img2.JPEG");
  Image(dir, "b_class/img9.jpg");
  auto dirty = Cli({"dataset", "verify", "toy"});
  EXPECT_EQ(dirty.exit_code, 1);
  EXPECT_THAT(dirty.output, HasSubstr("1 added, 1 missing, 1 changed"));
  EXPECT_THAT(dirty.output, HasSubstr("changed  a_class/img0.JPEG"));
  EXPECT_THAT(dirty.output, HasSubstr("no longer matches its manifest"));

  nlohmann::json v2 = Json({"dataset", "add", "toy", dir, "--layout", "wnid-folders"});
  EXPECT_EQ(v2["version"], 2);
  EXPECT_EQ(Json({"dataset", "show", "toy"})["versions"].size(), 2u);

  // The files restored to version 1's content: version 1 is current again, not a loop of
  // "verify: changed" / "add: unchanged".
  WriteTestFile(dir + "/a_class/img0.JPEG", "xa_class/img0.JPEG");
  Image(dir, "b_class/img2.JPEG");
  std::filesystem::remove(dir + "/b_class/img9.jpg");
  nlohmann::json back = Json({"dataset", "add", "toy", dir, "--layout", "wnid-folders"});
  EXPECT_EQ(back["version"], 1);
  auto verified = Cli({"dataset", "verify", "toy"});
  EXPECT_EQ(verified.exit_code, 0) << verified.output;
  EXPECT_THAT(verified.output, HasSubstr("toy v1"));
  EXPECT_EQ(Cli({"dataset", "remove", "toy"}).exit_code, 0);
  EXPECT_EQ(Cli({"dataset", "show", "toy"}).exit_code, 3);
}

TEST_F(DatasetCliTest, AClassListNamesTheIndexAndRefusesUnknownFolders) {
  std::string dir = tmp_.Sub("val");
  Image(dir, "n01440764/a.JPEG");  // class 0
  Image(dir, "n01443537/b.JPEG");  // class 1
  nlohmann::json added =
      Json({"dataset", "add", "val", dir, "--layout", "wnid-folders", "--classes", Synsets()});
  EXPECT_EQ(added["files"], 2);
  EXPECT_EQ(Listed("val")["protocol"]["model_classes"], 1000);

  Image(dir, "not_a_wnid/c.JPEG");
  auto refused =
      Cli({"dataset", "add", "val", dir, "--layout", "wnid-folders", "--classes", Synsets()});
  EXPECT_EQ(refused.exit_code, 2);
  EXPECT_THAT(refused.output, HasSubstr("folder \"not_a_wnid\" is not in the class list"));

  std::string flat = tmp_.Sub("flat");
  Image(flat, "loose.jpg");
  auto loose = Cli({"dataset", "add", "flat", flat, "--layout", "wnid-folders"});
  EXPECT_EQ(loose.exit_code, 2);
  EXPECT_THAT(loose.output, HasSubstr("loose.jpg is not inside a class folder"));
  auto empty = Cli({"dataset", "add", "none", tmp_.Sub("missing"), "--layout", "wnid-folders"});
  EXPECT_NE(empty.exit_code, 0);
  EXPECT_THAT(empty.output, HasSubstr("missing"));
  auto no_layout = Cli({"dataset", "add", "x", dir});
  EXPECT_EQ(no_layout.exit_code, 2);
  EXPECT_THAT(no_layout.output, HasSubstr("--layout"));
}

TEST_F(DatasetCliTest, IndexFoldersUseTheFoldersInteger) {
  std::string dir = tmp_.Sub("v2");
  for (const char* cls : {"0", "2", "10", "17"}) Image(dir, std::string(cls) + "/a.jpeg");
  Json({"dataset", "add", "v2", dir, "--layout", "index-folders"});
  // Classes 0..17: the model's index space is the largest folder + 1, not the folder count.
  EXPECT_EQ(Listed("v2")["protocol"]["model_classes"], 18);
  Image(dir, "007/b.jpeg");
  auto refused = Cli({"dataset", "add", "v2", dir, "--layout", "index-folders"});
  EXPECT_EQ(refused.exit_code, 2);
  EXPECT_THAT(refused.output, HasSubstr("007/b.jpeg: expected a class-index folder"));
}

TEST_F(DatasetCliTest, LabelsFilesInJsonAndCsv) {
  std::string dir = tmp_.Sub("real");
  // ReaL's order is the base names' order, wherever the files sit.
  Image(dir, "n01/ILSVRC2012_val_00000002.JPEG");
  Image(dir, "n02/ILSVRC2012_val_00000001.JPEG");
  Image(dir, "n02/ILSVRC2012_val_00000003.JPEG");
  WriteTestFile(tmp_.Sub("real.json"), "[[], [970, 795], [5]]");
  nlohmann::json added = Json({"dataset", "add", "real", dir, "--layout", "labels-file", "--labels",
                               tmp_.Sub("real.json")});
  EXPECT_EQ(added["files"], 3);
  nlohmann::json protocol = Listed("real")["protocol"];
  EXPECT_TRUE(protocol["multi_label"].get<bool>());
  EXPECT_EQ(protocol["model_classes"], 971);

  WriteTestFile(tmp_.Sub("short.json"), "[[1], [2]]");
  auto short_list = Cli({"dataset", "add", "real2", dir, "--layout", "labels-file", "--labels",
                         tmp_.Sub("short.json")});
  EXPECT_EQ(short_list.exit_code, 2);
  EXPECT_THAT(short_list.output, HasSubstr("holds 2 label lists, but the folder has 3 images"));

  WriteTestFile(tmp_.Sub("labels.csv"),
                "n01/ILSVRC2012_val_00000002.JPEG,4\n"
                "n02/ILSVRC2012_val_00000001.JPEG,3\n"
                "n02/ILSVRC2012_val_00000003.JPEG,9\n");
  Json({"dataset", "add", "csv", dir, "--layout", "labels-file", "--labels",
        tmp_.Sub("labels.csv")});
  EXPECT_FALSE(Listed("csv")["protocol"]["multi_label"].get<bool>());
  WriteTestFile(tmp_.Sub("bad.csv"), "n01/ILSVRC2012_val_00000002.JPEG,four\n");
  auto bad = Cli(
      {"dataset", "add", "bad", dir, "--layout", "labels-file", "--labels", tmp_.Sub("bad.csv")});
  EXPECT_EQ(bad.exit_code, 2);
  EXPECT_THAT(bad.output, HasSubstr("bad.csv:1: \"four\" is not a list of class indices"));
}

TEST_F(DatasetCliTest, CorruptionSuites) {
  std::string dir = tmp_.Sub("c");
  for (const char* corruption : {"gaussian_noise", "fog"}) {
    for (int severity = 1; severity <= 2; ++severity) {
      Image(dir, std::string(corruption) + "/" + std::to_string(severity) + "/n01440764/a.JPEG");
    }
  }
  Json({"dataset", "add", "c", dir, "--preset", "imagenet-c"});
  nlohmann::json protocol = Listed("c")["protocol"];
  EXPECT_FALSE(protocol["resize_and_crop"].get<bool>());
  EXPECT_EQ(protocol["layout"], "corruption-suite");
  Image(dir, "fog/9/n01440764/b.JPEG");
  auto refused = Cli({"dataset", "add", "c", dir, "--preset", "imagenet-c"});
  EXPECT_EQ(refused.exit_code, 2);
  EXPECT_THAT(refused.output, HasSubstr("expected <corruption>/<severity 1-5>/<class>"));
}

TEST_F(DatasetCliTest, TheImagenetAPresetDerivesItsCleanReference) {
  std::string val = tmp_.Sub("val");
  // n01498041 and n01531178 are ImageNet-A classes; n01440764 is not.
  for (const char* cls : {"n01498041", "n01531178", "n01440764"}) {
    for (int i = 0; i < 2; ++i) Image(val, std::string(cls) + "/v" + std::to_string(i) + ".JPEG");
  }
  std::string a = tmp_.Sub("a");
  Image(a, "n01498041/x.jpg");
  Image(a, "n01531178/y.jpg");
  auto early = Cli({"dataset", "add", "imagenet-a", a, "--preset", "imagenet-a"});
  EXPECT_NE(early.exit_code, 0);
  EXPECT_THAT(early.output, HasSubstr("register ImageNet val first"));

  Json({"dataset", "add", "imagenet", val, "--preset", "imagenet"});
  auto added = Cli({"dataset", "add", "imagenet-a", a, "--preset", "imagenet-a"});
  ASSERT_EQ(added.exit_code, 0) << added.output;
  nlohmann::json clean = Listed("imagenet-a-clean");
  EXPECT_EQ(clean["reference"], "imagenet");
  EXPECT_EQ(clean["num_samples"], 4);  // the four val images of A's classes
  EXPECT_EQ(clean["protocol"]["subset_size"], 200);
  nlohmann::json variant = Listed("imagenet-a");
  EXPECT_EQ(variant["reference"], "imagenet-a-clean");
  EXPECT_EQ(variant["protocol"]["subset_size"], 200);
  EXPECT_EQ(variant["protocol"]["model_classes"], 1000);

  std::string off = tmp_.Sub("off");
  Image(off, "n01440764/z.jpg");  // not one of A's classes
  auto outside = Cli({"dataset", "add", "imagenet-a", off, "--preset", "imagenet-a"});
  EXPECT_EQ(outside.exit_code, 2);
  EXPECT_THAT(outside.output, HasSubstr("is not in the subset"));
  auto unknown = Cli({"dataset", "add", "x", val, "--preset", "imagenet-z"});
  EXPECT_EQ(unknown.exit_code, 2);
  EXPECT_THAT(unknown.output, HasSubstr("unknown preset \"imagenet-z\""));
}

TEST_F(DatasetCliTest, AnImportedDatasetGetsItsFilesAttached) {
  ASSERT_EQ(Cli({"import", "timm", ::tw::testing::TimmResultsDir()}).exit_code, 0);
  EXPECT_TRUE(Listed("sketch")["manifest_sha256"].is_null());
  std::string dir = tmp_.Sub("sketch");
  Image(dir, "n01440764/s.jpg");
  nlohmann::json added = Json({"dataset", "add", "sketch", dir, "--preset", "sketch"});
  EXPECT_THAT(added["outcome"].get<std::string>(), HasSubstr("attached"));
  nlohmann::json listed = Listed("sketch");
  EXPECT_FALSE(listed["manifest_sha256"].is_null());
  EXPECT_EQ(listed["evaluations"], 1556);  // the imported results are still there
  EXPECT_EQ(listed["reference"], "imagenet");
}

}  // namespace
}  // namespace tw
