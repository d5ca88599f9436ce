// `transferwatch rescore CKPT --dataset NAME` end to end against a real PostgreSQL: stored
// per-sample predictions on `toy` rescored under a multi-label set registered on copies of
// the same images (`toy-real`, other names, so files are matched by SHA-256 and not by path),
// with hand-computed top-1/top-5, the result visible to `results`, `predictions export` and a
// paired `compare`, idempotence, and the refusals (missing files, single-label, other
// preprocessing, a class subset, no predictions).
#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <filesystem>
#include <map>
#include <nlohmann/json.hpp>
#include <sstream>

#include "common/sha256.h"
#include "common/version.h"
#include "protocol/eval_config.h"
#include "scoring/records.h"
#include "tests/testing/cli.h"
#include "tests/testing/pg_test.h"
#include "tests/testing/temp_dir.h"

namespace tw {
namespace {

using ::testing::HasSubstr;
using ::tw::testing::TempDir;
using ::tw::testing::WriteTestFile;
using Json = nlohmann::json;

constexpr int kImages = 6;

class CliRescoreTest : public ::tw::testing::PgTest {
 protected:
  void SetUp() override {
    PgTest::SetUp();
    if (HasFatalFailure()) return;
    // Ten classes for every dataset, so all have the same model_classes.
    std::string classes;
    for (int c = 0; c < 10; ++c) classes += "class" + std::to_string(c) + "\n";
    WriteTestFile(tmp_.Sub("classes.txt"), classes);
    // toy: img0..img5 with one label each. The copies: the same bytes under other names, in
    // another order (copy_5 holds img0's bytes, ...).
    std::filesystem::create_directories(tmp_.Sub("toy"));
    std::filesystem::create_directories(tmp_.Sub("copies"));
    std::string labels;
    for (int i = 0; i < kImages; ++i) {
      std::string bytes = "image bytes " + std::to_string(i);
      WriteTestFile(tmp_.Sub("toy/img" + std::to_string(i) + ".jpg"), bytes);
      WriteTestFile(tmp_.Sub("copies/" + CopyName(i)), bytes);
      labels += "img" + std::to_string(i) + ".jpg," + std::to_string(i) + "\n";
    }
    WriteTestFile(tmp_.Sub("toy.csv"), labels);
    AddDataset({"toy", tmp_.Sub("toy"), "--layout", "labels-file", "--labels", tmp_.Sub("toy.csv"),
                "--classes", tmp_.Sub("classes.txt")});
    // ReaL-style labels for the copies: image i's set, by the original image's number.
    AddLabelled("toy-real", "copies",
                {{0, "3"}, {1, "1;2"}, {2, ""}, {3, "7"}, {4, "9"}, {5, "5;6"}},
                {"--reference", "toy"});

    auto config = EvalConfig{};
    NormalizeEvalConfig(/*resize_and_crop=*/true, &config);
    auto hashed = HashEvalConfig(config);
    ASSERT_TRUE(hashed.ok());
    config_ = ImportedEvalConfig{hashed->sha256, hashed->hash_version, hashed->canonical};
  }

  static std::string CopyName(int i) { return "copy_" + std::to_string(kImages - 1 - i) + ".jpg"; }

  void AddDataset(std::vector<std::string> args) {
    args.insert(args.begin(), {"dataset", "add"});
    auto added = Cli(args);
    ASSERT_EQ(added.exit_code, 0) << added.output;
  }

  // Registers `name` on the copies in `folder` with labels by original image number.
  void AddLabelled(const std::string& name, const std::string& folder,
                   const std::map<int, std::string>& labels, std::vector<std::string> extra) {
    std::string csv;
    for (const auto& [i, set] : labels) csv += CopyName(i) + "," + set + "\n";
    WriteTestFile(tmp_.Sub(name + ".csv"), csv);
    std::vector<std::string> args = {
        name,       tmp_.Sub(folder),        "--layout",  "labels-file",
        "--labels", tmp_.Sub(name + ".csv"), "--classes", tmp_.Sub("classes.txt")};
    args.insert(args.end(), extra.begin(), extra.end());
    AddDataset(args);
  }

  struct Checkpoint {
    int64_t id = 0;
    std::string sha256;
  };

  Checkpoint AddCheckpoint(const std::string& file) {
    CheckpointFileRegistration reg;
    reg.run = "alpha";
    reg.file_name = file;
    reg.sha256 = Sha256Hex("alpha/" + file);
    reg.size_bytes = 10;
    auto info = store_->RegisterCheckpointFile(reg);
    EXPECT_TRUE(info.ok()) << info.status().ToString();
    return Checkpoint{info.ok() ? info->id : 0, reg.sha256};
  }

  // Records an evaluation of `dataset` under the key `eval` gives it, whose image i (in
  // manifest order: img0..img5) has the top five `top5[i]`, scored with the toy labels (i).
  int64_t Evaluate(const Checkpoint& c, const std::string& dataset,
                   const std::vector<std::array<int16_t, 5>>& top5,
                   const ImportedEvalConfig& config) {
    auto version = store_->GetDatasetVersion(dataset);
    EXPECT_TRUE(version.ok());
    std::vector<scoring::SampleRecord> records(top5.size());
    int correct = 0;
    for (size_t i = 0; i < top5.size(); ++i) {
      records[i].top5 = top5[i];
      records[i].correct = top5[i][0] == static_cast<int>(i);
      for (int16_t p : top5[i]) records[i].correct5 |= p == static_cast<int>(i);
      records[i].true_prob = 0.25f;
      correct += records[i].correct;
    }
    EvaluationRecord r;
    auto key = EvaluatorEvaluationKey(c.sha256, std::nullopt, dataset, version->manifest_sha256,
                                      config.sha256, kEvaluatorVersion);
    EXPECT_TRUE(key.ok());
    r.evaluation_key = *key;
    r.checkpoint_id = c.id;
    r.dataset = dataset;
    r.manifest_sha256 = version->manifest_sha256;
    r.eval_config = config;
    r.top1 = 100.0 * correct / static_cast<double>(top5.size());
    r.num_samples = static_cast<int>(top5.size());
    r.provenance_json = R"({"evaluator":"transferwatch-eval test","device":"cpu"})";
    r.predictions = scoring::EncodeRecords(records);
    r.predictions_digest = scoring::RecordsDigest(r.predictions);
    r.predictions_count = static_cast<int>(records.size());
    auto id = store_->RecordEvaluation(r);
    EXPECT_TRUE(id.ok()) << id.status().ToString();
    return id.ok() ? *id : 0;
  }

  // Checkpoint A's predictions on toy. With toy-real's sets: img0 {3} right; img1 {1,2} right;
  // img2 {} excluded; img3 {7} in the top five only; img4 {9} wrong; img5 {5,6} right.
  // Top-1 3/5 = 60%, top-5 4/5 = 80%.
  std::vector<std::array<int16_t, 5>> PredictionsA() {
    return {{3, 0, 1, 2, 4}, {2, 1, 0, 3, 4}, {2, 0, 1, 3, 4},
            {0, 7, 1, 2, 3}, {4, 0, 1, 2, 3}, {6, 0, 1, 2, 3}};
  }

  ProcessResult Cli(std::vector<std::string> args) {
    args.insert(args.begin(), {"--database", db_->conninfo()});
    return ::tw::testing::RunCli(args);
  }
  Json CliJson(std::vector<std::string> args) {
    args.insert(args.begin(), {"--database", db_->conninfo()});
    return ::tw::testing::RunCliJson(args);
  }

  TempDir tmp_;
  ImportedEvalConfig config_;
};

TEST_F(CliRescoreTest, ScoresStoredPredictionsUnderTheNewLabelsAndRecordsThem) {
  Checkpoint a = AddCheckpoint("step_1.pt");
  int64_t source = Evaluate(a, "toy", PredictionsA(), config_);

  Json doc = CliJson({"rescore", "alpha/step_1.pt", "--dataset", "toy-real"});
  ASSERT_EQ(doc["evaluations"].size(), 1u) << doc.dump();
  const Json& row = doc["evaluations"][0];
  EXPECT_EQ(row["dataset"], "toy-real");
  EXPECT_DOUBLE_EQ(row["top1"].get<double>(), 60.0);
  EXPECT_DOUBLE_EQ(row["top5"].get<double>(), 80.0);
  EXPECT_EQ(row["n"].get<int>(), 5);
  EXPECT_EQ(row["excluded"].get<int>(), 1);
  EXPECT_EQ(row["rescored_from"].get<int64_t>(), source);
  EXPECT_EQ(row["source_dataset"], "toy");
  EXPECT_EQ(row["cached"], false);

  // The key is the one `eval` computes for toy-real, so eval would answer it from the store.
  auto version = store_->GetDatasetVersion("toy-real");
  ASSERT_TRUE(version.ok());
  auto key = EvaluatorEvaluationKey(a.sha256, std::nullopt, "toy-real", version->manifest_sha256,
                                    config_.sha256, kEvaluatorVersion);
  ASSERT_TRUE(key.ok());
  EXPECT_EQ(row["evaluation_key"], *key);

  // Recorded: `results` shows it with provenance naming the source evaluation.
  Json results = CliJson({"results", "--dataset", "toy-real"});
  ASSERT_EQ(results["results"].size(), 1u) << results.dump();
  const Json& result = results["results"][0];
  EXPECT_DOUBLE_EQ(result["top1"].get<double>(), 60.0);
  EXPECT_EQ(result["provenance"]["rescored_from"]["evaluation_id"].get<int64_t>(), source);
  EXPECT_EQ(result["provenance"]["rescored_from"]["dataset"], "toy");
  EXPECT_EQ(result["provenance"]["source_provenance"]["device"], "cpu");

  // Per-sample records under toy-real's own paths, matched to the originals by hash.
  auto exported = Cli(
      {"predictions", "export", "alpha/step_1.pt", "--dataset", "toy-real", "--format", "json"});
  ASSERT_EQ(exported.exit_code, 0) << exported.output;
  std::map<std::string, Json> by_path;
  std::istringstream lines(exported.output);
  for (std::string line; std::getline(lines, line);) {
    Json j = Json::parse(line);
    by_path[j["path"].get<std::string>()] = j;
  }
  ASSERT_EQ(by_path.size(), static_cast<size_t>(kImages));
  EXPECT_EQ(by_path[CopyName(0)]["correct"], true);
  EXPECT_EQ(by_path[CopyName(0)]["top5"][0], 3);
  EXPECT_EQ(by_path[CopyName(1)]["correct"], true);
  EXPECT_EQ(by_path[CopyName(2)]["excluded"], true);
  EXPECT_EQ(by_path[CopyName(3)]["correct"], false);
  EXPECT_EQ(by_path[CopyName(3)]["correct5"], true);
  EXPECT_EQ(by_path[CopyName(4)]["correct5"], false);
  EXPECT_EQ(by_path[CopyName(5)]["correct"], true);
  EXPECT_TRUE(by_path[CopyName(5)]["true_prob"].is_null());
}

TEST_F(CliRescoreTest, ASecondRunFindsItRecorded) {
  Checkpoint a = AddCheckpoint("step_1.pt");
  Evaluate(a, "toy", PredictionsA(), config_);
  Json first = CliJson({"rescore", "alpha/step_1.pt", "--dataset", "toy-real"});
  Json second = CliJson({"rescore", "alpha/step_1.pt", "--dataset", "toy-real"});
  ASSERT_EQ(second["evaluations"].size(), 1u) << second.dump();
  EXPECT_EQ(second["evaluations"][0]["cached"], true);
  EXPECT_EQ(second["evaluations"][0]["evaluation_key"], first["evaluations"][0]["evaluation_key"]);
  EXPECT_EQ(second["evaluations"][0]["predictions_digest"],
            first["evaluations"][0]["predictions_digest"]);
  EXPECT_DOUBLE_EQ(second["evaluations"][0]["top1"].get<double>(), 60.0);
  EXPECT_EQ(CliJson({"results", "--dataset", "toy-real"})["results"].size(), 1u);
  auto table = Cli({"rescore", "alpha/step_1.pt", "--dataset", "toy-real"});
  ASSERT_EQ(table.exit_code, 0) << table.output;
  EXPECT_THAT(table.output, HasSubstr("already recorded"));
}

TEST_F(CliRescoreTest, RescoredResultsArePairedByCompare) {
  Checkpoint a = AddCheckpoint("step_1.pt");
  Checkpoint b = AddCheckpoint("step_2.pt");
  Evaluate(a, "toy", PredictionsA(), config_);
  // B: img3 now right on toy-real (7 first), img0 now wrong (0 first); the rest as A.
  auto predictions_b = PredictionsA();
  predictions_b[3] = {7, 0, 1, 2, 3};
  predictions_b[0] = {0, 3, 1, 2, 4};
  Evaluate(b, "toy", predictions_b, config_);
  CliJson({"rescore", "alpha/step_1.pt", "--dataset", "toy-real"});
  CliJson({"rescore", "alpha/step_2.pt", "--dataset", "toy-real"});
  Json doc = CliJson({"compare", "alpha/step_1.pt", "alpha/step_2.pt", "--dataset", "toy-real"});
  ASSERT_EQ(doc["comparisons"].size(), 1u) << doc.dump();
  const Json& row = doc["comparisons"][0];
  EXPECT_EQ(row["paired"], true) << row.dump();
  EXPECT_EQ(row["a_only"].get<int>(), 1);  // img0
  EXPECT_EQ(row["b_only"].get<int>(), 1);  // img3
  EXPECT_EQ(row["n"].get<int>(), 5) << "img2 has no ReaL label: in no paired count";
}

TEST_F(CliRescoreTest, FilesMissingFromTheStoredPredictionsAreNamed) {
  Checkpoint a = AddCheckpoint("step_1.pt");
  Evaluate(a, "toy", PredictionsA(), config_);
  std::filesystem::create_directories(tmp_.Sub("more"));
  for (int i = 0; i < kImages; ++i) {
    std::filesystem::copy_file(tmp_.Sub("copies/" + CopyName(i)), tmp_.Sub("more/" + CopyName(i)));
  }
  WriteTestFile(tmp_.Sub("more/new_one.jpg"), "an image toy does not have");
  std::string csv = "new_one.jpg,1\n";
  for (int i = 0; i < kImages; ++i) csv += CopyName(i) + ",1;2\n";
  WriteTestFile(tmp_.Sub("more.csv"), csv);
  AddDataset({"toy-more", tmp_.Sub("more"), "--layout", "labels-file", "--labels",
              tmp_.Sub("more.csv"), "--classes", tmp_.Sub("classes.txt")});
  auto out = Cli({"rescore", "alpha/step_1.pt", "--dataset", "toy-more"});
  EXPECT_EQ(out.exit_code, 1) << out.output;
  EXPECT_THAT(out.output, HasSubstr("1 of its 7 files are not in the stored predictions of toy"));
  EXPECT_THAT(out.output, HasSubstr("new_one.jpg"));
  EXPECT_EQ(CliJson({"results", "--dataset", "toy-more"})["results"].size(), 0u);
}

TEST_F(CliRescoreTest, RefusesWhatTheStoredRecordsCannotAnswer) {
  Checkpoint a = AddCheckpoint("step_1.pt");
  Evaluate(a, "toy", PredictionsA(), config_);

  // Single-label: NLL, ECE and true-class probabilities need the logits.
  AddLabelled("toy-relabel", "copies", {{0, "1"}, {1, "1"}, {2, "2"}, {3, "3"}, {4, "4"}, {5, "5"}},
              {});
  auto single = Cli({"rescore", "alpha/step_1.pt", "--dataset", "toy-relabel"});
  EXPECT_EQ(single.exit_code, 1) << single.output;
  EXPECT_THAT(single.output, HasSubstr("only multi-label"));

  // Other preprocessing: the stored predictions are not the ones this dataset would get.
  AddLabelled("toy-real-288", "copies",
              {{0, "3"}, {1, "1;2"}, {2, ""}, {3, "7"}, {4, "9"}, {5, "5;6"}},
              {"--img-size", "288"});
  auto other_config = Cli({"rescore", "alpha/step_1.pt", "--dataset", "toy-real-288"});
  EXPECT_EQ(other_config.exit_code, 1) << other_config.output;
  EXPECT_THAT(other_config.output, HasSubstr("default eval config (img_size 288"));
  EXPECT_THAT(other_config.output, HasSubstr("toy (evaluation"));

  // A class subset the source did not have: its best class is not in every stored top five.
  std::string subset = "0\n1\n2\n3\n5\n6\n7\n9\n";
  WriteTestFile(tmp_.Sub("subset.txt"), subset);
  AddLabelled("toy-real-subset", "copies",
              {{0, "3"}, {1, "1;2"}, {2, ""}, {3, "7"}, {4, "9"}, {5, "5;6"}},
              {"--subset", tmp_.Sub("subset.txt")});
  auto restricted = Cli({"rescore", "alpha/step_1.pt", "--dataset", "toy-real-subset"});
  EXPECT_EQ(restricted.exit_code, 1) << restricted.output;
  EXPECT_THAT(restricted.output, HasSubstr("needs the logits"));

  // No predictions at all: nothing to rescore from.
  AddCheckpoint("step_9.pt");
  auto none = Cli({"rescore", "alpha/step_9.pt", "--dataset", "toy-real"});
  EXPECT_EQ(none.exit_code, 3) << none.output;
  EXPECT_THAT(none.output, HasSubstr("no stored evaluation with per-sample predictions"));

  // An unknown dataset.
  auto unknown = Cli({"rescore", "alpha/step_1.pt", "--dataset", "nope"});
  EXPECT_EQ(unknown.exit_code, 3) << unknown.output;

  for (const char* name : {"toy-relabel", "toy-real-288", "toy-real-subset"}) {
    EXPECT_EQ(CliJson({"results", "--dataset", name})["results"].size(), 0u) << name;
  }
}

TEST_F(CliRescoreTest, ThePreprocessingOfTheSourceMustMatchTheTarget) {
  // Only an evaluation with other preprocessing: refused even though every file is covered.
  Checkpoint a = AddCheckpoint("step_1.pt");
  EvalConfig other;
  other.img_size = 320;
  NormalizeEvalConfig(true, &other);
  auto hashed = HashEvalConfig(other);
  ASSERT_TRUE(hashed.ok());
  Evaluate(a, "toy", PredictionsA(),
           ImportedEvalConfig{hashed->sha256, hashed->hash_version, hashed->canonical});
  auto out = Cli({"rescore", "alpha/step_1.pt", "--dataset", "toy-real"});
  EXPECT_EQ(out.exit_code, 1) << out.output;
  EXPECT_THAT(out.output, HasSubstr("img_size 320"));
  // With an evaluation under the right config too, that one is used.
  int64_t right = Evaluate(a, "toy", PredictionsA(), config_);
  Json doc = CliJson({"rescore", "alpha/step_1.pt", "--dataset", "toy-real"});
  EXPECT_EQ(doc["evaluations"][0]["rescored_from"].get<int64_t>(), right);
}

}  // namespace
}  // namespace tw
