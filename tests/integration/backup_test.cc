// `transferwatch db backup|restore` against a real PostgreSQL and the embedded cluster: a dump of
// seeded data restored into a fresh database holds the same rows (predictions, flags, webhook
// secrets, deliveries, jobs); the refusals say what is wrong; a failed restore leaves the target
// as it was.
#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <sys/stat.h>

#include <chrono>
#include <filesystem>
#include <sstream>

#include "common/time_util.h"
#include "store/job_queue.h"
#include "tests/testing/seeded_pg_test.h"
#include "tests/testing/status_matchers.h"
#include "tests/testing/temp_dir.h"

namespace tw {
namespace {

using ::testing::HasSubstr;
using ::tw::testing::ScratchDatabase;
using ::tw::testing::TempDir;

// Everything a restore must bring back, as text: two databases hold the same data when their
// snapshots are equal.
std::string Snapshot(const std::string& conninfo) {
  std::ostringstream out;
  auto connected = PgStore::Connect(conninfo);
  if (!connected.ok()) return "cannot connect: " + connected.status().ToString();
  PgStore& store = **connected;
  auto counts = store.Counts();
  if (!counts.ok()) return "no counts: " + counts.status().ToString();
  out << "runs " << counts->runs << " checkpoints " << counts->checkpoints << " datasets "
      << counts->datasets << " configs " << counts->eval_configs << " evaluations "
      << counts->evaluations << "\n";
  auto results = store.QueryResults(ResultQuery{});
  if (!results.ok()) return "no results: " + results.status().ToString();
  for (const auto& r : *results) {
    out << r.evaluation_id << " " << r.checkpoint << " " << r.dataset << " " << r.top1 << " "
        << r.metrics_json << " " << FormatIso8601Utc(r.created_at);
    auto predictions = store.GetPredictions(r.evaluation_id);
    if (predictions.ok()) {
      out << " predictions " << predictions->num_samples << " " << predictions->digest << " "
          << Sha256Hex(predictions->data);
    }
    out << "\n";
  }
  auto flags = store.ListFlags(FlagFilter{});
  if (!flags.ok()) return "no flags: " + flags.status().ToString();
  for (const auto& f : *flags) {
    out << "flag " << f.id << " " << f.verdict << " " << f.checkpoint << " "
        << f.reference_checkpoint << " " << f.variant_numbers.delta << " " << f.variant_p_holm
        << "\n";
  }
  auto hooks = store.ListWebhooks();
  if (!hooks.ok()) return "no webhooks: " + hooks.status().ToString();
  for (const auto& w : *hooks) {
    out << "webhook " << w.id << " " << w.url << " " << w.secrets.at(0) << "\n";
  }
  auto deliveries = store.ListDeliveries(std::nullopt, std::nullopt, 1000);
  if (!deliveries.ok()) return "no deliveries: " + deliveries.status().ToString();
  for (const auto& d : *deliveries) {
    out << "delivery " << d.id << " " << d.event_id << " " << d.state << "\n";
  }
  auto jobs = store.CountJobs();
  if (!jobs.ok()) return "no jobs: " + jobs.status().ToString();
  out << "jobs " << jobs->pending << " " << jobs->dead << "\n";
  return out.str();
}

class BackupTest : public ::tw::testing::SeededPgTest {
 protected:
  void SetUp() override {
    SeededPgTest::SetUp();
    if (HasFatalFailure()) return;
    AddDataset("imagenet", std::nullopt, 2000);
    AddDataset("sketch", "imagenet", 1000);
    CheckedCheckpoint a = AddCheckpoint("run", "step_1.pt", 1);
    CheckedCheckpoint b = AddCheckpoint("run", "step_2.pt", 2);
    Evaluate(a, "imagenet", 2000, 1400);
    Evaluate(a, "sketch", 1000, 600);
    Evaluate(b, "imagenet", 2000, 1600);
    Evaluate(b, "sketch", 1000, 500);
    NewWebhook hook;
    hook.url = "https://chat.example/hook";
    hook.format = "slack";
    hook.secrets = {"whsec_" + std::string(32, 'C')};
    hook.events = {"regression"};
    TW_ASSERT_OK(store_->AddWebhook(hook).status());
    TW_ASSERT_OK_AND_ASSIGN(auto summary, RunTransferChecks(*store_, b, TransferCheckOptions{}));
    ASSERT_EQ(summary.regressions, 1);
    snapshot_ = Snapshot(db_->conninfo());
    ASSERT_THAT(snapshot_, HasSubstr("flag "));
    ASSERT_THAT(snapshot_, HasSubstr("delivery "));
    ASSERT_THAT(snapshot_, HasSubstr("predictions 2000"));
  }

  ProcessResult Backup(const std::string& file, std::vector<std::string> extra = {}) {
    std::vector<std::string> args = {"db", "backup", file};
    args.insert(args.end(), extra.begin(), extra.end());
    return Cli(args);
  }

  static ProcessResult Restore(const std::string& conninfo, const std::string& file,
                               std::vector<std::string> extra = {}) {
    std::vector<std::string> args = {"--database", conninfo, "db", "restore", file};
    args.insert(args.end(), extra.begin(), extra.end());
    return ::tw::testing::RunCli(args);
  }

  TempDir dir_;
  std::string snapshot_;
};

TEST_F(BackupTest, ARestoreIntoAnEmptyDatabaseHoldsTheSameRows) {
  std::string file = dir_.Sub("tw.dump");
  auto started = std::chrono::steady_clock::now();
  auto backup = Backup(file);
  auto backup_ms = std::chrono::duration_cast<std::chrono::milliseconds>(
      std::chrono::steady_clock::now() - started);
  ASSERT_EQ(backup.exit_code, 0) << backup.output;
  EXPECT_THAT(backup.output, HasSubstr("backed up the database (schema version "));
  EXPECT_THAT(backup.output, HasSubstr(" to " + file + ": "));
  struct stat st {};
  ASSERT_EQ(::stat(file.c_str(), &st), 0);
  EXPECT_EQ(st.st_mode & 0777, 0600u) << "the dump holds webhook secrets";
  EXPECT_FALSE(std::filesystem::exists(file + ".tmp"));

  ScratchDatabase target;
  ASSERT_TRUE(target.ok());
  started = std::chrono::steady_clock::now();
  auto restore = Restore(target.conninfo(), file);
  auto restore_ms = std::chrono::duration_cast<std::chrono::milliseconds>(
      std::chrono::steady_clock::now() - started);
  ASSERT_EQ(restore.exit_code, 0) << restore.output;
  EXPECT_THAT(restore.output, HasSubstr("schema version "));
  EXPECT_THAT(restore.output, HasSubstr("4 evaluations"));
  EXPECT_EQ(Snapshot(target.conninfo()), snapshot_);
  std::cout << "[backup] " << st.st_size << " bytes; backup " << backup_ms.count()
            << " ms, restore " << restore_ms.count() << " ms (CLI start included)\n";

  // The restored database is a working one: identities continue where the source stopped.
  TW_ASSERT_OK_AND_ASSIGN(auto restored, PgStore::Connect(target.conninfo()));
  store_ = std::move(restored);
  CheckedCheckpoint c = AddCheckpoint("run", "step_3.pt", 3);
  EXPECT_GT(Evaluate(c, "imagenet", 2000, 1500), 0);
  auto refused = Restore(target.conninfo(), file);
  EXPECT_EQ(refused.exit_code, 1) << "a target with data is refused: " << refused.output;
}

TEST_F(BackupTest, RefusesWhatWouldLoseDataAndNamesWhatIsWrong) {
  std::string file = dir_.Sub("tw.dump");
  ::tw::testing::WriteTestFile(file, "precious");
  auto exists = Backup(file);
  EXPECT_EQ(exists.exit_code, 1) << exists.output;
  EXPECT_THAT(exists.output, HasSubstr(file + " exists"));
  EXPECT_EQ(::tw::testing::ReadTestFile(file), "precious");
  auto forced = Backup(file, {"--force"});
  ASSERT_EQ(forced.exit_code, 0) << forced.output;
  EXPECT_EQ(::tw::testing::ReadTestFile(file).substr(0, 5), "PGDMP");

  // Into a database that has TransferWatch data (the source itself).
  auto nonempty = Restore(db_->conninfo(), file);
  EXPECT_EQ(nonempty.exit_code, 1) << nonempty.output;
  EXPECT_THAT(nonempty.output, HasSubstr("already has TransferWatch data"));
  EXPECT_THAT(nonempty.output, HasSubstr("--force"));

  ScratchDatabase target;
  ASSERT_TRUE(target.ok());
  auto missing = Restore(target.conninfo(), dir_.Sub("nope.dump"));
  EXPECT_EQ(missing.exit_code, 3) << missing.output;
  EXPECT_THAT(missing.output, HasSubstr("no such backup file"));

  std::string text = dir_.Sub("notes.txt");
  ::tw::testing::WriteTestFile(text, "not a dump\n");
  auto not_dump = Restore(target.conninfo(), text);
  EXPECT_EQ(not_dump.exit_code, 2) << not_dump.output;
  EXPECT_THAT(not_dump.output, HasSubstr("is not a pg_dump custom-format archive"));

  // A cut-off archive fails; the target keeps what it had, even with --force.
  std::string dump = ::tw::testing::ReadTestFile(file);
  std::string cut = dir_.Sub("cut.dump");
  ::tw::testing::WriteTestFile(cut, dump.substr(0, dump.size() * 3 / 4));
  auto broken = Restore(db_->conninfo(), cut, {"--force"});
  EXPECT_NE(broken.exit_code, 0) << broken.output;
  EXPECT_EQ(Snapshot(db_->conninfo()), snapshot_);
  auto still = Restore(db_->conninfo(), file);
  EXPECT_THAT(still.output, HasSubstr("already has TransferWatch data"))
      << "the old schema is back under its name";

  // --force replaces the target's data with the archive's.
  CheckedCheckpoint extra = AddCheckpoint("run", "step_9.pt", 9);
  Evaluate(extra, "imagenet", 2000, 100);
  ASSERT_NE(Snapshot(db_->conninfo()), snapshot_);
  auto replaced = Restore(db_->conninfo(), file, {"--force"});
  ASSERT_EQ(replaced.exit_code, 0) << replaced.output;
  EXPECT_THAT(replaced.output, HasSubstr("replacing"));
  EXPECT_EQ(Snapshot(db_->conninfo()), snapshot_);
}

TEST_F(BackupTest, TheEmbeddedClusterBacksUpAndRestoresToo) {
  std::string file = dir_.Sub("server.dump");
  ASSERT_EQ(Backup(file).exit_code, 0);
  std::string state = dir_.Sub("state");
  auto embedded = [&](std::vector<std::string> args) {
    args.insert(args.begin(), {"--state-dir", state});
    return ::tw::testing::RunCli(args);
  };
  // A fresh embedded cluster is created empty (nothing migrated) and takes the archive.
  auto restore = embedded({"db", "restore", file});
  ASSERT_EQ(restore.exit_code, 0) << restore.output;
  auto server = Cli({"results", "--format", "json"});
  auto local = embedded({"results", "--format", "json"});
  ASSERT_EQ(local.exit_code, 0) << local.output;
  EXPECT_EQ(local.output, server.output);

  // And its own backup (pg_dump of the cluster's PostgreSQL over its socket) restores anywhere.
  std::string local_file = dir_.Sub("embedded.dump");
  auto backup = embedded({"db", "backup", local_file});
  ASSERT_EQ(backup.exit_code, 0) << backup.output;
  ScratchDatabase target;
  ASSERT_TRUE(target.ok());
  auto again = Restore(target.conninfo(), local_file);
  ASSERT_EQ(again.exit_code, 0) << again.output;
  EXPECT_EQ(Snapshot(target.conninfo()), snapshot_);
}

}  // namespace
}  // namespace tw
