// What the transfer-check, upgrade, backup and retention tests share: a migrated scratch
// database with datasets,
// checkpoints and evaluations recorded the way the evaluator records them (per-sample
// predictions included), raw SQL for what no store method does (backdating rows), and the real
// CLI pointed at the database.
#pragma once

#include <gtest/gtest.h>

#include <nlohmann/json.hpp>
#include <optional>
#include <string>
#include <vector>

#include "common/sha256.h"
#include "protocol/eval_config.h"
#include "reports/transfer_checks.h"
#include "scoring/records.h"
#include "store/pg_admin.h"
#include "tests/testing/cli.h"
#include "tests/testing/pg_test.h"

namespace tw::testing {

class SeededPgTest : public PgTest {
 protected:
  void SetUp() override {
    PgTest::SetUp();
    if (HasFatalFailure()) return;
    auto hashed = HashEvalConfig(EvalConfig{});
    ASSERT_TRUE(hashed.ok());
    config_ = ImportedEvalConfig{hashed->sha256, hashed->hash_version, hashed->canonical};
  }

  // `content` tells manifests of one name apart (a new version of the dataset).
  void AddDataset(const std::string& name, std::optional<std::string> reference, int n,
                  const std::string& content = "") {
    DatasetRegistration reg;
    reg.name = name;
    reg.reference = reference;
    reg.manifest_canonical = "{\"content\":\"" + name + content + "\"}";
    reg.manifest_sha256 = Sha256Hex(reg.manifest_canonical);
    reg.files_sha256 = Sha256Hex("files:" + name);
    reg.num_files = n;
    reg.total_bytes = 100 * n;
    reg.root = "/data/" + name;
    auto registered = store_->RegisterDataset(reg);
    ASSERT_TRUE(registered.ok()) << registered.status().ToString();
  }

  CheckedCheckpoint AddCheckpoint(const std::string& run, const std::string& file, int step) {
    CheckpointFileRegistration reg;
    reg.run = run;
    reg.file_name = file;
    reg.sha256 = Sha256Hex(run + file);
    reg.size_bytes = 10;
    reg.step = step;
    reg.path = "/ckpt/" + run + "/" + file;
    reg.host = "host-a";
    reg.mtime_ns = 1;
    reg.format = "torchscript";
    auto info = store_->RegisterCheckpointFile(reg);
    EXPECT_TRUE(info.ok()) << info.status().ToString();
    return CheckedCheckpoint{info.ok() ? info->id : 0, run + "/" + file, reg.sha256, step};
  }

  // Records an evaluation whose first `correct` of `n` images are right, with its per-sample
  // predictions; returns its id (0 after a test failure).
  int64_t Evaluate(const CheckedCheckpoint& c, const std::string& dataset, int n, int correct) {
    std::vector<scoring::SampleRecord> records(n);
    for (int i = 0; i < n; ++i) {
      records[i].top5 = {static_cast<int16_t>(i % 1000), -1, -1, -1, -1};
      records[i].correct = records[i].correct5 = i < correct;
      records[i].true_prob = 0.5f;
    }
    return Record(c, dataset, records, 100.0 * correct / n);
  }

  int64_t Record(const CheckedCheckpoint& c, const std::string& dataset,
                 const std::vector<scoring::SampleRecord>& records, double top1) {
    auto version = store_->GetDatasetVersion(dataset);
    EXPECT_TRUE(version.ok()) << version.status().ToString();
    if (!version.ok()) return 0;
    EvaluationRecord r;
    auto key = EvaluatorEvaluationKey(c.sha256, std::nullopt, dataset, version->manifest_sha256,
                                      config_.sha256, "test");
    EXPECT_TRUE(key.ok());
    r.evaluation_key = key.ok() ? *key : "";
    r.checkpoint_id = c.id;
    r.dataset = dataset;
    r.manifest_sha256 = version->manifest_sha256;
    r.eval_config = config_;
    r.top1 = top1;
    r.num_samples = static_cast<int>(records.size());
    r.predictions = scoring::EncodeRecords(records);
    r.predictions_digest = scoring::RecordsDigest(r.predictions);
    r.predictions_count = static_cast<int>(records.size());
    auto id = store_->RecordEvaluation(r);
    EXPECT_TRUE(id.ok()) << id.status().ToString();
    return id.ok() ? *id : 0;
  }

  void Sql(const std::string& sql) {
    Status status = ExecuteSql(db_->conninfo(), sql);
    ASSERT_TRUE(status.ok()) << status.ToString() << "\n" << sql;
  }

  ProcessResult Cli(std::vector<std::string> args) {
    args.insert(args.begin(), {"--database", db_->conninfo()});
    return RunCli(args);
  }

  nlohmann::json CliJson(std::vector<std::string> args) {
    args.insert(args.begin(), {"--database", db_->conninfo()});
    return RunCliJson(args);
  }

  ImportedEvalConfig config_;
};

}  // namespace tw::testing
