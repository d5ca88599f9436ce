// Upgrades against a real PostgreSQL: a database at the first released schema (0001 only) with
// data in it, written the way that release wrote it, migrated by the store and by the CLI; the
// data survive and the tables of later migrations work with it. And programs older than the
// database refuse to run, saying why.
#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include "schemas/embedded_sql.h"
#include "store/checkpoint_name.h"
#include "store/job_queue.h"
#include "store/migrations.h"
#include "tests/testing/seeded_pg_test.h"
#include "tests/testing/status_matchers.h"

namespace tw {
namespace {

using ::testing::HasSubstr;
using ::tw::testing::ScratchDatabase;

// The first released schema: what a 0.1 database holds.
std::vector<Migration> FirstRelease() {
  auto files = EmbeddedMigrationFiles();
  auto first = MigrationsFromFiles({{std::string(files[0].name), std::string(files[0].text)}});
  EXPECT_TRUE(first.ok());
  return first.ok() ? *first : std::vector<Migration>{};
}

// What the first release recorded: imported results only (no manifests yet, so every dataset's
// manifest is NULL), and file checkpoints with their run.
constexpr const char* kFirstReleaseData = R"sql(
INSERT INTO tw.runs (name) VALUES ('resnet-run');
INSERT INTO tw.checkpoints (origin, sha256, run_id, name, step, size_bytes, metadata)
  SELECT 'file', repeat('a', 64), id, 'step_100.pt', 100, 123456, '{"lr": 0.1}' FROM tw.runs;
INSERT INTO tw.checkpoints (origin, name, import_source, metadata)
  VALUES ('import', 'resnet50.a1_in1k', 'timm', '{"param_count_m": 25.6}');
INSERT INTO tw.datasets (name, protocol) VALUES ('imagenet', '{}');
INSERT INTO tw.datasets (name, reference_id, protocol)
  SELECT 'sketch', id, '{}' FROM tw.datasets WHERE name = 'imagenet';
INSERT INTO tw.eval_configs (sha256, hash_version, canonical)
  VALUES (repeat('c', 64), 1, '{"img_size":224}');
INSERT INTO tw.evaluations (evaluation_key, checkpoint_id, dataset_id, eval_config_id, source,
    top1, top5, num_samples, metrics, provenance)
  SELECT repeat('1', 64), c.id, d.id, ec.id, 'import', 80.4, 95.1, 50000,
    '{"param_count_m": 25.6}', '{"file": "results-imagenet.csv"}'
  FROM tw.checkpoints c, tw.datasets d, tw.eval_configs ec
  WHERE c.origin = 'import' AND d.name = 'imagenet';
INSERT INTO tw.evaluations (evaluation_key, checkpoint_id, dataset_id, eval_config_id, source,
    top1, top5, num_samples, metrics, provenance)
  SELECT repeat('2', 64), c.id, d.id, ec.id, 'import', 29.1, 46.0, 50889, '{}',
    '{"file": "results-sketch.csv"}'
  FROM tw.checkpoints c, tw.datasets d, tw.eval_configs ec
  WHERE c.origin = 'import' AND d.name = 'sketch';
)sql";

class UpgradeTest : public ::testing::Test {
 protected:
  void SetUp() override {
    ASSERT_TRUE(db_.ok());
    TW_ASSERT_OK_AND_ASSIGN(store_, PgStore::Connect(db_.conninfo()));
    TW_ASSERT_OK_AND_ASSIGN(auto applied, store_->Migrate(FirstRelease(), false));
    ASSERT_EQ(applied.size(), 1u);
    TW_ASSERT_OK(ExecuteSql(db_.conninfo(), kFirstReleaseData));
  }

  ProcessResult Cli(std::vector<std::string> args) {
    args.insert(args.begin(), {"--database", db_.conninfo()});
    return ::tw::testing::RunCli(args);
  }

  ScratchDatabase db_;
  std::unique_ptr<PgStore> store_;
};

TEST_F(UpgradeTest, FromTheFirstReleaseTheDataSurviveAndTheNewTablesWorkWithIt) {
  TW_ASSERT_OK_AND_ASSIGN(auto known, EmbeddedMigrations());
  TW_ASSERT_OK_AND_ASSIGN(auto applied, store_->Migrate(known, false));
  ASSERT_EQ(applied.size(), known.size() - 1);
  TW_ASSERT_OK_AND_ASSIGN(SchemaStatus schema, store_->GetSchemaStatus(known));
  EXPECT_TRUE(schema.pending.empty());

  // The old rows, as they were.
  TW_ASSERT_OK_AND_ASSIGN(StoreCounts counts, store_->Counts());
  EXPECT_EQ(counts.checkpoints, 2);
  EXPECT_EQ(counts.datasets, 2);
  EXPECT_EQ(counts.evaluations, 2);
  ResultQuery query;
  query.datasets = {"imagenet"};
  TW_ASSERT_OK_AND_ASSIGN(auto results, store_->QueryResults(query));
  ASSERT_EQ(results.size(), 1u);
  EXPECT_EQ(results[0].checkpoint, "resnet50.a1_in1k");
  EXPECT_DOUBLE_EQ(results[0].top1, 80.4);
  TW_ASSERT_OK_AND_ASSIGN(auto sketch, store_->GetDataset("sketch"));
  EXPECT_EQ(sketch.reference.value_or(""), "imagenet");
  TW_ASSERT_OK_AND_ASSIGN(auto resolved, ResolveCheckpoint(*store_, "resnet-run/step_100.pt"));
  const CheckpointInfo old_checkpoint = resolved.checkpoint;
  EXPECT_EQ(old_checkpoint.step.value_or(0), 100);

  // 0002: files for the imported dataset, and an evaluator result with predictions.
  DatasetRegistration reg;
  reg.name = "imagenet";
  reg.manifest_canonical = "{\"files\":[]}";
  reg.manifest_sha256 = Sha256Hex(reg.manifest_canonical);
  reg.files_sha256 = Sha256Hex("files");
  reg.num_files = 4;
  reg.total_bytes = 400;
  reg.root = "/data/imagenet";
  TW_ASSERT_OK(store_->RegisterDataset(reg).status());
  TW_ASSERT_OK_AND_ASSIGN(auto version, store_->GetDatasetVersion("imagenet"));

  // 0003: a job queued for the old checkpoint, and claimed (its file path is known now).
  CheckpointFileRegistration file;
  file.run = "resnet-run";
  file.file_name = "step_100.pt";
  file.sha256 = std::string(64, 'a');
  file.size_bytes = 123456;
  file.path = "/ckpt/resnet-run/step_100.pt";
  file.host = "host-a";
  TW_ASSERT_OK_AND_ASSIGN(auto registered, store_->RegisterCheckpointFile(file));
  EXPECT_EQ(registered.id, old_checkpoint.id) << "the same bytes: the same checkpoint";
  auto hashed = HashEvalConfig(EvalConfig{});
  ASSERT_TRUE(hashed.ok());
  NewJob job;
  job.evaluation_key = std::string(64, 'e');
  job.checkpoint_id = old_checkpoint.id;
  job.dataset_version_id = version.version_id;
  job.eval_config = ImportedEvalConfig{hashed->sha256, hashed->hash_version, hashed->canonical};
  job.evaluator_version = "test";
  TW_ASSERT_OK_AND_ASSIGN(auto queued, store_->EnqueueJobs({job}));
  EXPECT_EQ(queued.queued, 1);
  ClaimRequest request;
  request.worker = "host-a:1:0";
  request.evaluator_version = "test";
  request.lease_token = std::string(32, 'f');
  TW_ASSERT_OK_AND_ASSIGN(auto claim, store_->ClaimNext(request, "host-a"));
  ASSERT_TRUE(claim.has_value());
  EXPECT_EQ(claim->checkpoint_id, old_checkpoint.id);
  std::vector<scoring::SampleRecord> records(4);
  for (auto& r : records) {
    r.top5 = {1, 2, 3, 4, 5};
    r.correct = r.correct5 = true;
    r.true_prob = 0.9f;
  }
  EvaluationRecord record;
  record.evaluation_key = job.evaluation_key;
  record.checkpoint_id = old_checkpoint.id;
  record.dataset = "imagenet";
  record.manifest_sha256 = version.manifest_sha256;
  record.eval_config = job.eval_config;
  record.top1 = 100;
  record.num_samples = 4;
  record.predictions = scoring::EncodeRecords(records);
  record.predictions_digest = scoring::RecordsDigest(record.predictions);
  record.predictions_count = 4;
  TW_ASSERT_OK_AND_ASSIGN(int64_t evaluation_id,
                          store_->CompleteJob(claim->jobs[0].job_id, claim->lease_token, record));
  TW_ASSERT_OK_AND_ASSIGN(auto predictions, store_->GetPredictions(evaluation_id));
  EXPECT_EQ(predictions.num_samples, 4);

  // 0004 and 0005: transfer checks, baselines, webhooks and deliveries.
  TW_ASSERT_OK_AND_ASSIGN(auto flags, store_->ListFlags(FlagFilter{}));
  EXPECT_TRUE(flags.empty());
  TW_ASSERT_OK(store_->PinBaseline(old_checkpoint.id, std::string("from 0.1")));
  TW_ASSERT_OK_AND_ASSIGN(auto baselines, store_->ListBaselines());
  ASSERT_EQ(baselines.size(), 1u);
  TW_ASSERT_OK_AND_ASSIGN(auto pairable, store_->PairableEvaluations(old_checkpoint.id));
  EXPECT_EQ(pairable.size(), 1u);
  NewWebhook hook;
  hook.url = "https://chat.example/hook";
  hook.format = "slack";
  hook.secrets = {"whsec_" + std::string(32, 'B')};
  hook.events = {"regression"};
  TW_ASSERT_OK(store_->AddWebhook(hook).status());
  TW_ASSERT_OK_AND_ASSIGN(auto deliveries, store_->ListDeliveries(std::nullopt, std::nullopt, 10));
  EXPECT_TRUE(deliveries.empty());
}

TEST_F(UpgradeTest, TheCliShowsThePendingMigrationsThenUpgradesOnItsFirstCommand) {
  auto dry = Cli({"db", "migrate", "--dry-run"});
  ASSERT_EQ(dry.exit_code, 0) << dry.output;
  for (const auto& f : EmbeddedMigrationFiles()) {
    if (std::string(f.name) == "0001_foundation.sql") {
      EXPECT_THAT(dry.output, ::testing::Not(HasSubstr("would apply 0001")));
    } else {
      EXPECT_THAT(dry.output, HasSubstr("would apply " + std::string(f.name)));
    }
  }
  EXPECT_THAT(dry.output, HasSubstr("CREATE TABLE tw.jobs")) << "the SQL it would run";
  auto status = ::tw::testing::RunCliJson({"--database", db_.conninfo(), "db", "status"});
  EXPECT_EQ(status["schema_version"], 1) << "the dry run changed nothing";

  auto results =
      ::tw::testing::RunCliJson({"--database", db_.conninfo(), "results", "--dataset", "sketch"});
  ASSERT_EQ(results["results"].size(), 1u);
  EXPECT_DOUBLE_EQ(results["results"][0]["top1"].get<double>(), 29.1);
  TW_ASSERT_OK_AND_ASSIGN(auto known, EmbeddedMigrations());
  status = ::tw::testing::RunCliJson({"--database", db_.conninfo(), "db", "status"});
  EXPECT_EQ(status["schema_version"], known.back().version);
  EXPECT_EQ(status["pending_migrations"], 0);
  auto again = Cli({"db", "migrate"});
  ASSERT_EQ(again.exit_code, 0) << again.output;
  EXPECT_THAT(again.output, HasSubstr("up to date"));
}

TEST_F(UpgradeTest, AProgramOlderThanTheDatabaseRefusesToRun) {
  TW_ASSERT_OK_AND_ASSIGN(auto known, EmbeddedMigrations());
  TW_ASSERT_OK(store_->Migrate(known, false).status());
  // A newer release applied one more migration.
  char name[40];
  std::snprintf(name, sizeof(name), "%04d_from_the_future.sql", known.back().version + 1);
  TW_ASSERT_OK(ExecuteSql(db_.conninfo(),
                          "INSERT INTO tw.schema_migrations (version, name, checksum) VALUES (" +
                              std::to_string(known.back().version + 1) + ", '" + name +
                              "', repeat('0', 64))"));
  for (const std::vector<std::string>& command :
       {std::vector<std::string>{"results"}, {"db", "migrate"}, {"db", "migrate", "--dry-run"}}) {
    auto result = Cli(command);
    EXPECT_EQ(result.exit_code, 1) << result.output;
    EXPECT_THAT(result.output, HasSubstr("the database schema is newer than this program"));
    EXPECT_THAT(result.output, HasSubstr(name));
    EXPECT_THAT(result.output, HasSubstr("upgrade TransferWatch"));
  }
}

}  // namespace
}  // namespace tw
