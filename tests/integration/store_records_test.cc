// The store with checkpoint files, dataset manifests and evaluator results, on a real
// PostgreSQL: naming checkpoints, dataset versions, recording results once, predictions.
#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include "common/sha256.h"
#include "protocol/eval_config.h"
#include "store/checkpoint_name.h"
#include "store/pg_admin.h"
#include "tests/testing/pg_test.h"
#include "tests/testing/status_matchers.h"

namespace tw {
namespace {

using ::testing::HasSubstr;
using ::tw::testing::StatusIs;

class StoreRecordsTest : public ::tw::testing::PgTest {
 protected:
  CheckpointInfo AddCheckpoint(const std::string& run, const std::string& file,
                               const std::string& sha256, std::optional<int64_t> step = {}) {
    CheckpointFileRegistration reg;
    reg.run = run;
    reg.file_name = file;
    reg.sha256 = sha256;
    reg.size_bytes = 1000;
    reg.step = step;
    auto info = store_->RegisterCheckpointFile(reg);
    EXPECT_TRUE(info.ok()) << info.status().ToString();
    return info.ok() ? *info : CheckpointInfo{};
  }

  DatasetRegistration Dataset(const std::string& name, const std::string& content) {
    DatasetRegistration reg;
    reg.name = name;
    reg.manifest_canonical = "{\"content\":\"" + content + "\"}";
    reg.manifest_sha256 = Sha256Hex(reg.manifest_canonical);
    reg.files_sha256 = Sha256Hex("files:" + content);
    reg.num_files = 3;
    reg.total_bytes = 300;
    reg.root = "/data/" + name;
    return reg;
  }

  EvaluationRecord Evaluation(int64_t checkpoint_id, const std::string& dataset,
                              const std::string& manifest, double top1) {
    EvaluationRecord r;
    EvalConfig config;
    auto hashed = HashEvalConfig(config);
    EXPECT_TRUE(hashed.ok());
    r.eval_config = ImportedEvalConfig{hashed->sha256, hashed->hash_version, hashed->canonical};
    auto key = EvaluatorEvaluationKey(std::to_string(checkpoint_id), std::nullopt, dataset,
                                      manifest, hashed->sha256, "test");
    EXPECT_TRUE(key.ok());
    r.evaluation_key = *key;
    r.checkpoint_id = checkpoint_id;
    r.dataset = dataset;
    r.manifest_sha256 = manifest;
    r.top1 = top1;
    r.top5 = 99.0;
    r.num_samples = 3;
    r.nll = 0.5;
    r.ece = 0.01;
    r.predictions = std::string("TWPR\x01\x00\x00\x00", 8) + std::string(8, '\0');
    r.predictions_digest = Sha256Hex(r.predictions);
    r.predictions_count = 0;
    return r;
  }
};

TEST_F(StoreRecordsTest, CheckpointsAreNamedByRunFileOrHashPrefix) {
  std::string a = "aaaaaaaa11" + std::string(54, '1');
  std::string b = "aaaaaaaa22" + std::string(54, '2');
  CheckpointInfo first = AddCheckpoint("baseline", "epoch_001.pt", a, 1);
  AddCheckpoint("baseline", "epoch_002.pt", b, 2);
  AddCheckpoint("augmented", "epoch_001.pt", std::string(64, 'c'), 1);

  // The same bytes under another name are the same checkpoint.
  CheckpointInfo copy = AddCheckpoint("elsewhere", "copy.pt", a);
  EXPECT_EQ(copy.id, first.id);
  EXPECT_EQ(copy.display_name, "baseline/epoch_001.pt");

  TW_ASSERT_OK_AND_ASSIGN(ResolvedCheckpoint by_path,
                          ResolveCheckpoint(*store_, "baseline/epoch_001.pt"));
  EXPECT_EQ(by_path.checkpoint.id, first.id);
  EXPECT_EQ(by_path.checkpoint.step, 1);
  TW_ASSERT_OK_AND_ASSIGN(ResolvedCheckpoint by_hash, ResolveCheckpoint(*store_, "aaaaaaaa11"));
  EXPECT_EQ(by_hash.checkpoint.id, first.id);
  TW_ASSERT_OK_AND_ASSIGN(ResolvedCheckpoint upper, ResolveCheckpoint(*store_, "AAAAAAAA11"));
  EXPECT_EQ(upper.checkpoint.id, first.id);
  EXPECT_THAT(ResolveCheckpoint(*store_, "aaaaaaaa"),
              StatusIs(StatusCode::kInvalidArgument,
                       AllOf(HasSubstr("ambiguous"), HasSubstr("baseline/epoch_001.pt"),
                             HasSubstr("baseline/epoch_002.pt"))));
  EXPECT_THAT(ResolveCheckpoint(*store_, "baseline/epoch_009.pt"),
              StatusIs(StatusCode::kNotFound, HasSubstr("no checkpoint named")));

  CheckpointFilter by_run;
  by_run.run_glob = "base*";
  TW_ASSERT_OK_AND_ASSIGN(auto baseline, store_->ListCheckpoints(by_run));
  ASSERT_EQ(baseline.size(), 2u);
  EXPECT_EQ(baseline[1].display_name, "baseline/epoch_002.pt");
  CheckpointFilter by_path_glob;
  by_path_glob.name_glob = "*/epoch_001.pt";
  TW_ASSERT_OK_AND_ASSIGN(auto firsts, store_->ListCheckpoints(by_path_glob));
  EXPECT_EQ(firsts.size(), 2u);
  CheckpointFilter prefix_with_run;
  prefix_with_run.name_glob = "augmented/ep*";
  TW_ASSERT_OK_AND_ASSIGN(auto augmented, store_->ListCheckpoints(prefix_with_run));
  ASSERT_EQ(augmented.size(), 1u);
  EXPECT_EQ(augmented[0].run, "augmented");
}

TEST_F(StoreRecordsTest, DatasetsAreVersionedByManifest) {
  TW_ASSERT_OK_AND_ASSIGN(RegistrationResult created, store_->RegisterDataset(Dataset("val", "1")));
  EXPECT_EQ(created.outcome, RegistrationOutcome::kCreated);
  EXPECT_EQ(created.version, 1);
  TW_ASSERT_OK_AND_ASSIGN(RegistrationResult same, store_->RegisterDataset(Dataset("val", "1")));
  EXPECT_EQ(same.outcome, RegistrationOutcome::kUnchanged);
  EXPECT_EQ(same.version, 1);
  TW_ASSERT_OK_AND_ASSIGN(RegistrationResult changed, store_->RegisterDataset(Dataset("val", "2")));
  EXPECT_EQ(changed.outcome, RegistrationOutcome::kNewVersion);
  EXPECT_EQ(changed.version, 2);
  TW_ASSERT_OK_AND_ASSIGN(DatasetVersionInfo current, store_->GetDatasetVersion("val"));
  EXPECT_EQ(current.version, 2);
  EXPECT_EQ(current.manifest_sha256, Dataset("val", "2").manifest_sha256);
  TW_ASSERT_OK_AND_ASSIGN(auto versions, store_->ListDatasetVersions("val"));
  EXPECT_EQ(versions.size(), 2u);
  TW_ASSERT_OK_AND_ASSIGN(std::string manifest,
                          store_->GetManifest(Dataset("val", "1").manifest_sha256));
  EXPECT_EQ(manifest, "{\"content\":\"1\"}");

  auto variant = Dataset("variant", "v");
  variant.reference = "nope";
  EXPECT_THAT(store_->RegisterDataset(variant), StatusIs(StatusCode::kNotFound, HasSubstr("nope")));
  variant.reference = "val";
  TW_ASSERT_OK(store_->RegisterDataset(variant));
  EXPECT_THAT(store_->RemoveDataset("val"),
              StatusIs(StatusCode::kFailedPrecondition, HasSubstr("reference of variant")));
  TW_ASSERT_OK(store_->RemoveDataset("variant"));
  EXPECT_THAT(store_->GetDataset("variant"), StatusIs(StatusCode::kNotFound, HasSubstr("variant")));
  EXPECT_THAT(store_->RemoveDataset("variant"),
              StatusIs(StatusCode::kNotFound, HasSubstr("variant")));
}

TEST_F(StoreRecordsTest, ADatasetKnownFromAnImportGetsFilesAttached) {
  TW_ASSERT_OK(ExecuteSql(db_->conninfo(), "INSERT INTO tw.datasets (name) VALUES ('sketch')"));
  EXPECT_THAT(store_->GetDatasetVersion("sketch"),
              StatusIs(StatusCode::kNotFound, HasSubstr("has no files yet")));
  TW_ASSERT_OK_AND_ASSIGN(RegistrationResult attached,
                          store_->RegisterDataset(Dataset("sketch", "s")));
  EXPECT_EQ(attached.outcome, RegistrationOutcome::kAttached);
  TW_ASSERT_OK(store_->GetDatasetVersion("sketch"));
}

TEST_F(StoreRecordsTest, AnEvaluationIsRecordedOnceWithItsPredictions) {
  TW_ASSERT_OK(store_->RegisterDataset(Dataset("val", "1")));
  std::string manifest = Dataset("val", "1").manifest_sha256;
  CheckpointInfo ckpt = AddCheckpoint("run", "a.pt", std::string(64, 'd'));
  EvaluationRecord record = Evaluation(ckpt.id, "val", manifest, 76.5);
  record.predictions_count = 3;
  TW_ASSERT_OK_AND_ASSIGN(int64_t id, store_->RecordEvaluation(record));
  // Same key again: the first result stands, nothing is duplicated.
  EvaluationRecord again = record;
  again.top1 = 10;
  TW_ASSERT_OK_AND_ASSIGN(int64_t second, store_->RecordEvaluation(again));
  EXPECT_EQ(second, id);
  TW_ASSERT_OK_AND_ASSIGN(auto found, store_->FindEvaluation(record.evaluation_key));
  ASSERT_TRUE(found.has_value());
  EXPECT_EQ(found->top1, 76.5);
  EXPECT_EQ(found->nll, 0.5);
  EXPECT_EQ(found->predictions_digest, record.predictions_digest);
  TW_ASSERT_OK_AND_ASSIGN(StoredPredictions predictions, store_->GetPredictions(id));
  EXPECT_EQ(predictions.data, record.predictions);  // bytes with NULs survive bytea
  EXPECT_EQ(predictions.num_samples, 3);
  EXPECT_EQ(predictions.manifest_sha256, manifest);
  TW_ASSERT_OK_AND_ASSIGN(auto missing, store_->FindEvaluation(std::string(64, '0')));
  EXPECT_FALSE(missing.has_value());

  // Sorting by a column metric, and a dataset with evaluations cannot be removed.
  ResultQuery by_nll;
  by_nll.sort_metric = "nll";
  TW_ASSERT_OK_AND_ASSIGN(auto rows, store_->QueryResults(by_nll));
  ASSERT_EQ(rows.size(), 1u);
  EXPECT_EQ(rows[0].sort_value, 0.5);
  EXPECT_EQ(rows[0].run, "run");
  EXPECT_THAT(store_->RemoveDataset("val"),
              StatusIs(StatusCode::kFailedPrecondition, HasSubstr("1 recorded evaluation")));

  EvaluationRecord unknown = Evaluation(ckpt.id, "nope", Dataset("nope", "n").manifest_sha256, 1);
  EXPECT_THAT(store_->RecordEvaluation(unknown),
              StatusIs(StatusCode::kNotFound, HasSubstr("'nope' is not registered")));
}

TEST_F(StoreRecordsTest, DatabaseErrorsMapToTheirMeaning) {
  const std::string& db = db_->conninfo();
  EXPECT_THAT(ExecuteSql(db,
                         "DO $$ BEGIN RAISE EXCEPTION 'conflict' USING ERRCODE = '40001'; "
                         "END $$"),
              StatusIs(StatusCode::kUnavailable, HasSubstr("retry")));
  EXPECT_THAT(ExecuteSql(db,
                         "DO $$ BEGIN RAISE EXCEPTION 'deadlock' USING ERRCODE = '40P01'; "
                         "END $$"),
              StatusIs(StatusCode::kUnavailable, HasSubstr("retry")));
  TW_ASSERT_OK(ExecuteSql(db, "CREATE ROLE tw_no_rights_" + db_->name() + " LOGIN"));
  std::string as_role = db + " user=tw_no_rights_" + db_->name();
  EXPECT_THAT(ExecuteSql(as_role, "SELECT * FROM tw.runs"),
              StatusIs(StatusCode::kPermissionDenied, HasSubstr("permission denied")));
  TW_ASSERT_OK(ExecuteSql(db, "DROP ROLE tw_no_rights_" + db_->name()));
}

}  // namespace
}  // namespace tw
