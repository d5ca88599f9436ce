// `transferwatch compare` paired on per-sample predictions (McNemar, Tango CI) where both
// checkpoints have them on the same manifest and eval config, the aggregate difference with a
// note and a warning where they cannot be paired, and `transferwatch report --run` /
// `--exclude-imported`, end to end against a real PostgreSQL.
#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <functional>
#include <nlohmann/json.hpp>

#include "common/sha256.h"
#include "protocol/eval_config.h"
#include "scoring/records.h"
#include "tests/testing/cli.h"
#include "tests/testing/pg_test.h"
#include "tests/testing/status_matchers.h"

namespace tw {
namespace {

using ::testing::HasSubstr;
using Json = nlohmann::json;

class CliComparePairedTest : public ::tw::testing::PgTest {
 protected:
  void SetUp() override {
    PgTest::SetUp();
    if (HasFatalFailure()) return;
    auto hashed = HashEvalConfig(EvalConfig{});
    ASSERT_TRUE(hashed.ok());
    config_ = ImportedEvalConfig{hashed->sha256, hashed->hash_version, hashed->canonical};
    AddDataset("imagenet", std::nullopt, 2000, "1");
    AddDataset("sketch", "imagenet", 1000, "1");
  }

  void AddDataset(const std::string& name, std::optional<std::string> reference, int n,
                  const std::string& content) {
    DatasetRegistration reg;
    reg.name = name;
    reg.reference = reference;
    reg.manifest_canonical = "{\"content\":\"" + name + content + "\"}";
    reg.manifest_sha256 = Sha256Hex(reg.manifest_canonical);
    reg.files_sha256 = Sha256Hex("files:" + name + content);
    reg.num_files = n;
    reg.total_bytes = 100 * n;
    reg.root = "/data/" + name;
    auto registered = store_->RegisterDataset(reg);
    ASSERT_TRUE(registered.ok()) << registered.status().ToString();
  }

  struct Checkpoint {
    int64_t id = 0;
    std::string sha256;
  };

  Checkpoint AddCheckpoint(const std::string& run, const std::string& file, int step) {
    CheckpointFileRegistration reg;
    reg.run = run;
    reg.file_name = file;
    reg.sha256 = Sha256Hex(run + file);
    reg.size_bytes = 10;
    reg.step = step;
    auto info = store_->RegisterCheckpointFile(reg);
    EXPECT_TRUE(info.ok()) << info.status().ToString();
    return Checkpoint{info.ok() ? info->id : 0, reg.sha256};
  }

  // Stores an evaluation on the dataset's current manifest whose image i is right when
  // right(i).
  void Evaluate(const Checkpoint& c, const std::string& dataset, int n,
                const std::function<bool(int)>& right) {
    auto version = store_->GetDatasetVersion(dataset);
    ASSERT_TRUE(version.ok());
    std::vector<scoring::SampleRecord> records(n);
    int correct = 0;
    for (int i = 0; i < n; ++i) {
      records[i].top5 = {0, -1, -1, -1, -1};
      records[i].correct = records[i].correct5 = right(i);
      records[i].true_prob = 0.5f;
      correct += right(i) ? 1 : 0;
    }
    EvaluationRecord r;
    auto key = EvaluatorEvaluationKey(c.sha256, std::nullopt, dataset, version->manifest_sha256,
                                      config_.sha256, "test");
    ASSERT_TRUE(key.ok());
    r.evaluation_key = *key;
    r.checkpoint_id = c.id;
    r.dataset = dataset;
    r.manifest_sha256 = version->manifest_sha256;
    r.eval_config = config_;
    r.top1 = 100.0 * correct / n;
    r.num_samples = n;
    r.predictions = scoring::EncodeRecords(records);
    r.predictions_digest = scoring::RecordsDigest(r.predictions);
    r.predictions_count = n;
    auto id = store_->RecordEvaluation(r);
    ASSERT_TRUE(id.ok()) << id.status().ToString();
  }

  // An imported model with top-1 on imagenet and sketch (no predictions).
  void Import(const std::string& model, double imagenet, double sketch) {
    ImportBatch batch;
    batch.source = "test";
    batch.datasets = {{"imagenet", std::nullopt, "{}"}, {"sketch", "imagenet", "{}"}};
    batch.models = {{model, "{}"}};
    batch.eval_configs = {config_};
    for (const auto& [dataset, top1] :
         {std::pair<std::string, double>{"imagenet", imagenet}, {"sketch", sketch}}) {
      ImportedEvaluation e;
      e.evaluation_key = Sha256Hex("import:" + model + dataset);
      e.model = model;
      e.dataset = dataset;
      e.eval_config_sha256 = config_.sha256;
      e.top1 = top1;
      e.location = "test";
      batch.evaluations.push_back(e);
    }
    auto result = store_->ImportEvaluations(batch, ImportMode::kAddNew);
    ASSERT_TRUE(result.ok()) << result.status().ToString();
  }

  ProcessResult Cli(std::vector<std::string> args) {
    args.insert(args.begin(), {"--database", db_->conninfo()});
    return ::tw::testing::RunCli(args);
  }
  Json CliJson(std::vector<std::string> args) {
    args.insert(args.begin(), {"--database", db_->conninfo()});
    return ::tw::testing::RunCliJson(args);
  }

  // A: right on the first 1400 of imagenet and 600 of sketch. B: +200 on imagenet (none
  // lost); on sketch loses images 0-9 and gains 600-611.
  void SeedPairs() {
    a_ = AddCheckpoint("alpha", "step_1.pt", 1);
    b_ = AddCheckpoint("alpha", "step_2.pt", 2);
    Evaluate(a_, "imagenet", 2000, [](int i) { return i < 1400; });
    Evaluate(a_, "sketch", 1000, [](int i) { return i < 600; });
    Evaluate(b_, "imagenet", 2000, [](int i) { return i < 1600; });
    Evaluate(b_, "sketch", 1000, [](int i) { return i >= 10 && i < 612; });
  }

  ImportedEvalConfig config_;
  Checkpoint a_, b_;
};

const Json& Row(const Json& doc, const std::string& dataset) {
  for (const auto& row : doc["comparisons"]) {
    if (row["dataset"] == dataset) return row;
  }
  static const Json none;
  ADD_FAILURE() << "no row for " << dataset << " in " << doc.dump();
  return none;
}

TEST_F(CliComparePairedTest, CheckpointsWithPredictionsArePairedWithExactCounts) {
  SeedPairs();
  Json doc = CliJson({"compare", "alpha/step_1.pt", "alpha/step_2.pt"});
  ASSERT_EQ(doc["comparisons"].size(), 2u) << doc.dump();

  const Json& imagenet = Row(doc, "imagenet");
  EXPECT_EQ(imagenet["paired"], true);
  EXPECT_TRUE(imagenet["note"].is_null());
  EXPECT_EQ(imagenet["n"].get<int>(), 2000);
  EXPECT_EQ(imagenet["b_only"].get<int>(), 200);
  EXPECT_EQ(imagenet["a_only"].get<int>(), 0);
  EXPECT_NEAR(imagenet["delta"].get<double>(), 10.0, 1e-9);
  EXPECT_NEAR(imagenet["delta_top1"].get<double>(), 10.0, 1e-9);
  EXPECT_LT(imagenet["ci_low"].get<double>(), 10.0);
  EXPECT_GT(imagenet["ci_low"].get<double>(), 0.0);
  EXPECT_GT(imagenet["ci_high"].get<double>(), 10.0);
  EXPECT_LT(imagenet["p"].get<double>(), 0.05);
  EXPECT_LE(imagenet["p_mid"].get<double>(), imagenet["p"].get<double>());

  const Json& sketch = Row(doc, "sketch");
  EXPECT_EQ(sketch["paired"], true);
  EXPECT_EQ(sketch["n"].get<int>(), 1000);
  EXPECT_EQ(sketch["b_only"].get<int>(), 12);
  EXPECT_EQ(sketch["a_only"].get<int>(), 10);
  EXPECT_NEAR(sketch["delta"].get<double>(), 0.2, 1e-9);
  EXPECT_GT(sketch["p"].get<double>(), 0.5);  // 12 against 10: no evidence
  EXPECT_LT(sketch["ci_low"].get<double>(), 0.0);
  EXPECT_GT(sketch["ci_high"].get<double>(), 0.2);

  // Swapped, the counts swap and the delta changes sign; p is the same.
  Json swapped = CliJson({"compare", "alpha/step_2.pt", "alpha/step_1.pt", "--dataset", "sketch"});
  ASSERT_EQ(swapped["comparisons"].size(), 1u);
  const Json& back = swapped["comparisons"][0];
  EXPECT_EQ(back["b_only"].get<int>(), 10);
  EXPECT_EQ(back["a_only"].get<int>(), 12);
  EXPECT_NEAR(back["delta"].get<double>(), -0.2, 1e-9);
  EXPECT_NEAR(back["p"].get<double>(), sketch["p"].get<double>(), 1e-12);

  auto table = Cli({"compare", "alpha/step_1.pt", "alpha/step_2.pt"});
  ASSERT_EQ(table.exit_code, 0) << table.output;
  EXPECT_THAT(table.output, HasSubstr("B only"));
  EXPECT_THAT(table.output, ::testing::Not(HasSubstr("warning:")));
}

TEST_F(CliComparePairedTest, WhatCannotBePairedKeepsTheAggregateDifferenceWithANote) {
  SeedPairs();
  Import("importedmodel.x", 75.0, 50.0);
  Json doc = CliJson({"compare", "alpha/step_1.pt", "importedmodel.x"});
  ASSERT_EQ(doc["comparisons"].size(), 2u) << doc.dump();
  const Json& imagenet = Row(doc, "imagenet");
  EXPECT_EQ(imagenet["paired"], false);
  EXPECT_THAT(imagenet["note"].get<std::string>(), HasSubstr("imported"));
  EXPECT_NEAR(imagenet["delta_top1"].get<double>(), 5.0, 1e-9);  // 75 - 70
  EXPECT_TRUE(imagenet["n"].is_null());
  EXPECT_TRUE(imagenet["delta"].is_null());
  EXPECT_TRUE(imagenet["p"].is_null());

  auto table = Cli({"compare", "alpha/step_1.pt", "importedmodel.x"});
  ASSERT_EQ(table.exit_code, 0) << table.output;
  EXPECT_THAT(table.output,
              HasSubstr("warning: 2 dataset(s) compared without per-sample data (aggregate "
                        "difference, no test): imagenet, sketch"));

  // A new sketch manifest: imagenet still pairs, sketch does not.
  AddDataset("sketch", "imagenet", 1000, "2");
  Checkpoint c = AddCheckpoint("beta", "step_1.pt", 1);
  Evaluate(c, "imagenet", 2000, [](int i) { return i < 1500; });
  Evaluate(c, "sketch", 1000, [](int i) { return i < 700; });
  Json mixed = CliJson({"compare", "alpha/step_1.pt", "beta/step_1.pt"});
  EXPECT_EQ(Row(mixed, "imagenet")["paired"], true);
  EXPECT_EQ(Row(mixed, "imagenet")["b_only"].get<int>(), 100);
  const Json& sketch = Row(mixed, "sketch");
  EXPECT_EQ(sketch["paired"], false);
  EXPECT_THAT(sketch["note"].get<std::string>(), HasSubstr("different manifests"));
  EXPECT_NEAR(sketch["delta_top1"].get<double>(), 10.0, 1e-9);
  auto mixed_table = Cli({"compare", "alpha/step_1.pt", "beta/step_1.pt"});
  EXPECT_THAT(mixed_table.output,
              HasSubstr("warning: 1 dataset(s) compared without per-sample data (aggregate "
                        "difference, no test): sketch"));
}

TEST_F(CliComparePairedTest, ReportPoolByRunAndWithoutImportedModels) {
  SeedPairs();
  Checkpoint c = AddCheckpoint("beta", "step_1.pt", 1);
  Evaluate(c, "imagenet", 2000, [](int i) { return i < 1500; });
  Evaluate(c, "sketch", 1000, [](int i) { return i < 700; });
  Import("importedmodel.x", 75.0, 50.0);
  Import("importedmodel.y", 80.0, 55.0);

  auto pool = [&](std::vector<std::string> extra) {
    std::vector<std::string> args = {"report", "--dataset", "sketch"};
    args.insert(args.end(), extra.begin(), extra.end());
    Json doc = CliJson(args);
    EXPECT_EQ(doc["variants"].size(), 1u) << doc.dump();
    std::set<std::string> models;
    for (const auto& r : doc["variants"][0]["residuals"]) models.insert(r["model"]);
    EXPECT_EQ(doc["variants"][0]["n"].get<size_t>(), models.size());
    return models;
  };
  using Models = std::set<std::string>;
  EXPECT_EQ(pool({}), (Models{"alpha/step_1.pt", "alpha/step_2.pt", "beta/step_1.pt",
                              "importedmodel.x", "importedmodel.y"}));
  EXPECT_EQ(pool({"--exclude-imported"}),
            (Models{"alpha/step_1.pt", "alpha/step_2.pt", "beta/step_1.pt"}));
  EXPECT_EQ(pool({"--run", "alpha"}), (Models{"alpha/step_1.pt", "alpha/step_2.pt"}));
  EXPECT_EQ(pool({"--run", "*a"}),
            (Models{"alpha/step_1.pt", "alpha/step_2.pt", "beta/step_1.pt"}));

  auto none = Cli({"report", "--run", "gamma*"});
  EXPECT_EQ(none.exit_code, 3) << none.output;
  EXPECT_THAT(none.output, HasSubstr("--run 'gamma*' matches no run"));
  auto table = Cli({"report", "--run", "alpha", "--exclude-imported"});
  ASSERT_EQ(table.exit_code, 0) << table.output;
  EXPECT_THAT(table.output, HasSubstr("checkpoints of runs matching alpha"));
}

}  // namespace
}  // namespace tw
