// transferwatchd and the schema: it migrates an older database at start (under the migrator's
// advisory lock), and a daemon older than the database refuses to start, saying why.
#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <signal.h>

#include <chrono>

#include "schemas/embedded_sql.h"
#include "store/migrations.h"
#include "store/pg_admin.h"
#include "tests/testing/cli.h"
#include "tests/testing/daemon_process.h"
#include "tests/testing/pg_test.h"
#include "tests/testing/status_matchers.h"
#include "tests/testing/temp_dir.h"

namespace tw {
namespace {

using ::testing::HasSubstr;
using ::tw::testing::DaemonProcess;
using ::tw::testing::ScratchDatabase;
using ::tw::testing::TempDir;
using namespace std::chrono_literals;

std::vector<std::string> DaemonArgs(const ScratchDatabase& db, const TempDir& dir) {
  return {"--database", db.conninfo(), "--state-dir", dir.Sub("state"), "--watch",
          dir.path(),   "--api-port",  "0",           "--slots",        "0"};
}

TEST(DaemonUpgradeTest, MigratesAnOlderDatabaseAtStart) {
  ScratchDatabase db;
  ASSERT_TRUE(db.ok());
  TempDir dir;
  TW_ASSERT_OK_AND_ASSIGN(auto store, PgStore::Connect(db.conninfo()));
  const auto& files = EmbeddedMigrationFiles();
  TW_ASSERT_OK_AND_ASSIGN(
      auto first, MigrationsFromFiles({{std::string(files[0].name), std::string(files[0].text)}}));
  TW_ASSERT_OK(store->Migrate(first, false).status());

  DaemonProcess daemon(TW_DAEMON_PATH, DaemonArgs(db, dir), dir.Sub("daemon.log"));
  TW_ASSERT_OK_AND_ASSIGN(auto known, EmbeddedMigrations());
  bool migrated = ::tw::testing::WaitFor(
      [&] {
        auto schema = store->GetSchemaStatus(known);
        return schema.ok() && schema->pending.empty();
      },
      30s);
  EXPECT_TRUE(migrated) << daemon.Log();
  // Ready means its signal handlers are installed, so SIGTERM is a clean stop.
  EXPECT_TRUE(::tw::testing::WaitFor(
      [&] { return daemon.Log().find("ready: watching") != std::string::npos; }, 30s))
      << daemon.Log();
  daemon.Signal(SIGTERM);
  EXPECT_EQ(daemon.Wait(20s), std::optional<int>(0)) << daemon.Log();
}

TEST(DaemonUpgradeTest, ADaemonOlderThanTheDatabaseRefusesToStart) {
  ScratchDatabase db;
  ASSERT_TRUE(db.ok());
  TempDir dir;
  TW_ASSERT_OK_AND_ASSIGN(auto store, PgStore::Connect(db.conninfo()));
  TW_ASSERT_OK_AND_ASSIGN(auto known, EmbeddedMigrations());
  TW_ASSERT_OK(store->Migrate(known, false).status());
  // What a newer release leaves behind: one more applied migration.
  int future = known.back().version + 1;
  char name[40];
  std::snprintf(name, sizeof(name), "%04d_from_the_future.sql", future);
  TW_ASSERT_OK(ExecuteSql(db.conninfo(),
                          "INSERT INTO tw.schema_migrations (version, name, checksum) VALUES (" +
                              std::to_string(future) + ", '" + name + "', repeat('0', 64))"));

  DaemonProcess daemon(TW_DAEMON_PATH, DaemonArgs(db, dir), dir.Sub("daemon.log"));
  auto code = daemon.Wait(20s);
  ASSERT_TRUE(code.has_value()) << "still running:\n" << daemon.Log();
  EXPECT_NE(*code, 0);
  EXPECT_THAT(daemon.Log(), HasSubstr("the database schema is newer than this program"));
  EXPECT_THAT(daemon.Log(), HasSubstr(name));
  EXPECT_THAT(daemon.Log(), HasSubstr("upgrade TransferWatch"));
}

}  // namespace
}  // namespace tw
