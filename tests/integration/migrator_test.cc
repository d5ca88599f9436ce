// The migrator against a real PostgreSQL: from empty, re-run, edited and newer schemas,
// concurrent programs, and the constraints that express the schema's invariants.
#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <thread>

#include "schemas/embedded_sql.h"
#include "store/migrations.h"
#include "store/pg_admin.h"
#include "store/pg_store.h"
#include "tests/testing/pg_test.h"
#include "tests/testing/status_matchers.h"

namespace tw {
namespace {

using ::testing::HasSubstr;
using ::tw::testing::ScratchDatabase;
using ::tw::testing::StatusIs;

std::vector<std::pair<std::string, std::string>> EmbeddedFiles() {
  std::vector<std::pair<std::string, std::string>> files;
  for (const auto& f : EmbeddedMigrationFiles()) files.emplace_back(f.name, f.text);
  return files;
}

TEST(MigratorTest, FromEmptyAppliesEveryMigrationAndARerunAppliesNone) {
  ScratchDatabase db;
  ASSERT_TRUE(db.ok());
  TW_ASSERT_OK_AND_ASSIGN(auto store, PgStore::Connect(db.conninfo()));
  TW_ASSERT_OK_AND_ASSIGN(auto known, EmbeddedMigrations());
  ASSERT_FALSE(known.empty());

  TW_ASSERT_OK_AND_ASSIGN(SchemaStatus before, store->GetSchemaStatus(known));
  EXPECT_TRUE(before.applied.empty());
  EXPECT_EQ(before.pending.size(), known.size());

  TW_ASSERT_OK_AND_ASSIGN(auto applied, store->Migrate(known, false));
  EXPECT_EQ(applied.size(), known.size());
  TW_ASSERT_OK_AND_ASSIGN(SchemaStatus after, store->GetSchemaStatus(known));
  ASSERT_EQ(after.applied.size(), known.size());
  EXPECT_TRUE(after.pending.empty());
  EXPECT_EQ(after.applied.front().checksum, known.front().checksum);

  TW_ASSERT_OK_AND_ASSIGN(auto again, store->Migrate(known, false));
  EXPECT_TRUE(again.empty());
  TW_ASSERT_OK_AND_ASSIGN(StoreCounts counts, store->Counts());
  EXPECT_EQ(counts.evaluations, 0);
}

TEST(MigratorTest, DryRunReportsPendingAndChangesNothing) {
  ScratchDatabase db;
  ASSERT_TRUE(db.ok());
  TW_ASSERT_OK_AND_ASSIGN(auto store, PgStore::Connect(db.conninfo()));
  TW_ASSERT_OK_AND_ASSIGN(auto known, EmbeddedMigrations());
  TW_ASSERT_OK_AND_ASSIGN(auto would, store->Migrate(known, true));
  EXPECT_EQ(would.size(), known.size());
  TW_ASSERT_OK_AND_ASSIGN(SchemaStatus status, store->GetSchemaStatus(known));
  EXPECT_TRUE(status.applied.empty());
  EXPECT_THAT(store->Counts(), StatusIs(StatusCode::kFailedPrecondition, HasSubstr("migrated")));
}

TEST(MigratorTest, AnEditedAppliedMigrationIsRefused) {
  ScratchDatabase db;
  ASSERT_TRUE(db.ok());
  TW_ASSERT_OK_AND_ASSIGN(auto store, PgStore::Connect(db.conninfo()));
  TW_ASSERT_OK_AND_ASSIGN(auto known, EmbeddedMigrations());
  TW_ASSERT_OK(store->Migrate(known, false));

  auto files = EmbeddedFiles();
  files.front().second += "\n-- an innocent-looking comment\n";
  TW_ASSERT_OK_AND_ASSIGN(auto edited, MigrationsFromFiles(files));
  EXPECT_THAT(store->Migrate(edited, false),
              StatusIs(StatusCode::kFailedPrecondition,
                       HasSubstr("migration " + files.front().first + " was edited")));
  EXPECT_THAT(store->GetSchemaStatus(edited),
              StatusIs(StatusCode::kFailedPrecondition, HasSubstr("was edited")));
}

TEST(MigratorTest, ASchemaNewerThanTheProgramIsRefused) {
  ScratchDatabase db;
  ASSERT_TRUE(db.ok());
  TW_ASSERT_OK_AND_ASSIGN(auto store, PgStore::Connect(db.conninfo()));
  auto files = EmbeddedFiles();
  char name[32];
  std::snprintf(name, sizeof(name), "%04d_from_the_future.sql", static_cast<int>(files.size()) + 1);
  files.emplace_back(name, "CREATE TABLE tw.from_the_future (x integer);");
  TW_ASSERT_OK_AND_ASSIGN(auto newer, MigrationsFromFiles(files));
  TW_ASSERT_OK(store->Migrate(newer, false));

  TW_ASSERT_OK_AND_ASSIGN(auto known, EmbeddedMigrations());
  EXPECT_THAT(store->Migrate(known, false),
              StatusIs(StatusCode::kFailedPrecondition,
                       HasSubstr("the database schema is newer than this program")));
}

TEST(MigratorTest, ConcurrentProgramsMigrateExactlyOnce) {
  ScratchDatabase db;
  ASSERT_TRUE(db.ok());
  TW_ASSERT_OK_AND_ASSIGN(auto known, EmbeddedMigrations());
  constexpr int kPrograms = 4;
  std::vector<Status> statuses(kPrograms);
  std::vector<size_t> applied(kPrograms, 0);
  std::vector<std::thread> threads;
  for (int i = 0; i < kPrograms; ++i) {
    threads.emplace_back([&, i] {
      auto store = PgStore::Connect(db.conninfo());
      if (!store.ok()) {
        statuses[i] = store.status();
        return;
      }
      auto result = (*store)->Migrate(known, false);
      statuses[i] = result.status();
      if (result.ok()) applied[i] = result->size();
    });
  }
  for (auto& t : threads) t.join();
  size_t total = 0;
  for (int i = 0; i < kPrograms; ++i) {
    TW_EXPECT_OK(statuses[i]);
    total += applied[i];
  }
  EXPECT_EQ(total, known.size());
}

TEST(MigratorTest, MigrationFileNamesMustBeNumberedWithoutGaps) {
  EXPECT_THAT(MigrationsFromFiles({{"0001_a.sql", ""}, {"0003_c.sql", ""}}),
              StatusIs(StatusCode::kInternal, HasSubstr("0003_c.sql is out of sequence")));
  EXPECT_THAT(MigrationsFromFiles({{"1_a.sql", ""}}),
              StatusIs(StatusCode::kInternal, HasSubstr("NNNN_lowercase_words.sql")));
}

// The schema's CHECK constraints keep impossible rows out whoever writes them.
class SchemaConstraintTest : public ::tw::testing::PgTest {};

TEST_F(SchemaConstraintTest, RejectsRowsThatBreakInvariants) {
  const std::string& db = db_->conninfo();
  TW_ASSERT_OK(ExecuteSql(db,
                          "INSERT INTO tw.datasets (name) VALUES ('imagenet');"
                          "INSERT INTO tw.eval_configs (sha256, hash_version, canonical) VALUES "
                          "(repeat('a', 64), 1, '{}');"
                          "INSERT INTO tw.checkpoints (origin, name, import_source) VALUES "
                          "('import', 'm', 'timm');"));
  struct Case {
    const char* what;
    const char* sql;
  } cases[] = {
      {"a file checkpoint without a hash",
       "INSERT INTO tw.runs (name) VALUES ('r');"
       "INSERT INTO tw.checkpoints (origin, name, run_id) VALUES ('file', 'a.pt', 1)"},
      {"an imported model with a hash",
       "INSERT INTO tw.checkpoints (origin, name, import_source, sha256) VALUES "
       "('import', 'x', 'timm', repeat('b', 64))"},
      {"a hash that is not lowercase hex",
       "INSERT INTO tw.runs (name) VALUES ('r');"
       "INSERT INTO tw.checkpoints (origin, name, run_id, sha256) VALUES "
       "('file', 'a.pt', 1, repeat('G', 64))"},
      {"the same imported model twice",
       "INSERT INTO tw.checkpoints (origin, name, import_source) VALUES ('import', 'm', 'timm')"},
      {"a run name with a slash", "INSERT INTO tw.runs (name) VALUES ('a/b')"},
      {"a dataset name with spaces", "INSERT INTO tw.datasets (name) VALUES ('Image Net')"},
      {"a dataset that is its own reference", "UPDATE tw.datasets SET reference_id = id"},
      {"top-1 above 100",
       "INSERT INTO tw.evaluations (evaluation_key, checkpoint_id, dataset_id, eval_config_id, "
       "source, top1, provenance) VALUES (repeat('c', 64), 1, 1, 1, 'import', 100.5, '{}')"},
      {"an evaluator result without a manifest",
       "INSERT INTO tw.evaluations (evaluation_key, checkpoint_id, dataset_id, eval_config_id, "
       "source, top1, provenance) VALUES (repeat('c', 64), 1, 1, 1, 'evaluator', 50, '{}')"},
      {"metrics that are not an object",
       "INSERT INTO tw.evaluations (evaluation_key, checkpoint_id, dataset_id, eval_config_id, "
       "source, top1, metrics, provenance) VALUES (repeat('c', 64), 1, 1, 1, 'import', 50, "
       "'[1]', '{}')"},
  };
  for (const auto& c : cases) {
    EXPECT_FALSE(ExecuteSql(db, c.sql).ok()) << c.what << " was accepted";
  }
  // And the same evaluation key cannot be recorded twice.
  const char* insert =
      "INSERT INTO tw.evaluations (evaluation_key, checkpoint_id, dataset_id, eval_config_id, "
      "source, top1, provenance) VALUES (repeat('d', 64), 1, 1, 1, 'import', 50, '{}')";
  TW_ASSERT_OK(ExecuteSql(db, insert));
  EXPECT_THAT(ExecuteSql(db, insert), StatusIs(StatusCode::kAlreadyExists, HasSubstr("unique")));
}

}  // namespace
}  // namespace tw
