// The job queue under database faults (docs/reliability.md, rows Q5, Q6, Q8, Q10, R2): backends
// killed in the middle of a claim and of a result's transaction, a commit whose answer was lost,
// planners and rescuers racing on several connections, a migration failing half-way.
//
// A statement is caught mid-transaction without sleeping on a guess: another session holds a
// table lock that the transaction's *later* statement needs, the test waits until
// pg_stat_activity shows it blocked there (its earlier statements done, uncommitted), then
// terminates that backend with pg_terminate_backend, as a server restart or a cut connection
// would.
#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <atomic>
#include <chrono>
#include <thread>

#include "common/sha256.h"
#include "protocol/eval_config.h"
#include "store/migrations.h"
#include "store/pg_admin.h"
#include "tests/testing/daemon_process.h"
#include "tests/testing/queue_pg_test.h"
#include "tests/testing/status_matchers.h"

namespace tw {
namespace {

using ::testing::HasSubstr;
using ::tw::testing::WaitFor;
using namespace std::chrono_literals;

bool Transient(const Status& status) {
  return status.code() == StatusCode::kUnavailable || status.code() == StatusCode::kUnknown;
}

class QueueFaultTest : public ::tw::testing::QueuePgTest {
 protected:
  void TearDown() override {
    // Nothing of ours may outlive the test: the scratch database is dropped next.
    for (auto& t : threads_) t.join();
    QueuePgTest::TearDown();
  }

  std::unique_ptr<PgStore> Connect() {
    auto store = PgStore::Connect(db_->conninfo());
    EXPECT_TRUE(store.ok()) << store.status().ToString();
    return store.ok() ? std::move(*store) : nullptr;
  }

  // Whether an SQL boolean expression holds, evaluated in a session of its own.
  bool Holds(const std::string& condition) {
    return ExecuteSql(db_->conninfo(), "DO $$BEGIN IF NOT (" + condition +
                                           ") THEN RAISE EXCEPTION 'no'; END IF; END$$")
        .ok();
  }
  bool Eventually(const std::string& condition) {
    return WaitFor([&] { return Holds(condition); }, 20s);
  }

  // Another session takes `table` exclusively and keeps it (until TerminateLockHolder).
  void HoldTableLock(const std::string& table) {
    threads_.emplace_back([this, table] {
      // Ends with an error when it is terminated: that is how it is meant to end.
      (void)ExecuteSql(db_->conninfo(),
                       "LOCK TABLE " + table + " IN ACCESS EXCLUSIVE MODE; SELECT pg_sleep(60)");
    });
    ASSERT_TRUE(Eventually(
        "EXISTS (SELECT 1 FROM pg_locks l JOIN pg_class c ON c.oid = l.relation "
        "WHERE c.relname = '" +
        table.substr(table.find('.') + 1) + "' AND l.mode = 'AccessExclusiveLock' AND l.granted)"))
        << "the lock on " << table << " was never taken";
  }
  void TerminateLockHolder() {
    ASSERT_TRUE(ExecuteSql(db_->conninfo(),
                           "SELECT pg_terminate_backend(pid) FROM pg_stat_activity "
                           "WHERE datname = current_database() AND pid <> pg_backend_pid() "
                           "AND query LIKE 'LOCK TABLE%pg_sleep%'")
                    .ok());
  }

  // The session waiting for a lock while running a statement that starts with `prefix`, and
  // holding `mode` on table `holds` (what its earlier statements did): it is stopped exactly
  // between them.
  std::string BlockedSession(const std::string& prefix, const std::string& holds,
                             const std::string& mode) {
    return "SELECT a.pid FROM pg_stat_activity a JOIN pg_locks l ON l.pid = a.pid "
           "JOIN pg_class c ON c.oid = l.relation WHERE a.datname = current_database() "
           "AND a.wait_event_type = 'Lock' AND a.query LIKE '" +
           prefix + "%' AND c.relname = '" + holds + "' AND l.mode = '" + mode + "' AND l.granted";
  }
  void Terminate(const std::string& sessions) {
    ASSERT_TRUE(
        ExecuteSql(db_->conninfo(), "SELECT pg_terminate_backend(pid) FROM (" + sessions + ") s")
            .ok());
  }

  std::vector<JobInfo> Jobs() {
    JobFilter all;
    all.limit = 1000;
    auto jobs = store_->ListJobs(all);
    EXPECT_TRUE(jobs.ok()) << jobs.status().ToString();
    return jobs.ok() ? *jobs : std::vector<JobInfo>{};
  }

  std::vector<std::thread> threads_;
};

// Q6: the claim's UPDATE has run (its row locks are held) when the backend dies before the
// transaction commits: the jobs are pending again with no attempt counted, and the worker's
// next connection claims them.
TEST_F(QueueFaultTest, ABackendKilledDuringAClaimLeavesTheJobsClaimable) {
  int64_t c = AddCheckpoint("c.pt");
  TW_ASSERT_OK(store_->EnqueueJobs({Job(c, AddDataset("val")), Job(c, AddDataset("v2"))}).status());
  // The claim reads the jobs' datasets after its UPDATE: hold that table.
  HoldTableLock("tw.manifests");
  auto worker = Connect();
  ASSERT_NE(worker, nullptr);
  StatusOr<std::optional<Claim>> claim = std::optional<Claim>();
  std::thread claimer([&] { claim = worker->ClaimNext(Request(1), "host-a"); });
  std::string blocked = BlockedSession("SELECT j.id, j.evaluation_key", "jobs", "RowExclusiveLock");
  bool caught = Eventually("EXISTS (" + blocked + ")");
  if (caught) Terminate(blocked);
  TerminateLockHolder();
  claimer.join();
  ASSERT_TRUE(caught) << "the claim was never seen between its UPDATE and its commit";
  EXPECT_FALSE(claim.ok());
  EXPECT_TRUE(Transient(claim.status())) << claim.status().ToString();

  for (const auto& job : Jobs()) {
    EXPECT_EQ(job.state, JobState::kPending);
    EXPECT_EQ(job.attempt, 0) << "the dead claim counted an attempt";
    EXPECT_FALSE(job.leased_by.has_value());
  }
  // What the daemon's worker does: a new connection, the same claim.
  auto reconnected = Connect();
  ASSERT_NE(reconnected, nullptr);
  TW_ASSERT_OK_AND_ASSIGN(auto again, reconnected->ClaimNext(Request(2), "host-a"));
  ASSERT_TRUE(again.has_value());
  EXPECT_EQ(again->jobs.size(), 2u);
  for (const auto& job : again->jobs) EXPECT_EQ(job.attempt, 1);
}

// Q6: the evaluation row is written, its predictions are not yet, when the backend dies: the
// transaction rolls back whole. The job is still the worker's (running under its lease), and its
// retry on a new connection records the result once.
TEST_F(QueueFaultTest, ABackendKilledDuringTheResultWriteLeavesNothingHalfWritten) {
  int64_t c = AddCheckpoint("c.pt");
  TW_ASSERT_OK(store_->EnqueueJobs({Job(c, AddDataset("val"))}).status());
  auto worker = Connect();
  ASSERT_NE(worker, nullptr);
  TW_ASSERT_OK_AND_ASSIGN(auto claim, worker->ClaimNext(Request(1), "host-a"));
  ASSERT_TRUE(claim.has_value());
  const ClaimedJob job = claim->jobs.at(0);

  HoldTableLock("tw.predictions");
  StatusOr<int64_t> completed = int64_t{0};
  std::thread completer(
      [&] { completed = worker->CompleteJob(job.job_id, claim->lease_token, Record(job, c)); });
  std::string blocked =
      BlockedSession("INSERT INTO tw.predictions", "evaluations", "RowExclusiveLock");
  bool caught = Eventually("EXISTS (" + blocked + ")");
  if (caught) Terminate(blocked);
  TerminateLockHolder();
  completer.join();
  ASSERT_TRUE(caught) << "the result's transaction was never seen half-way";
  EXPECT_FALSE(completed.ok());
  EXPECT_TRUE(Transient(completed.status())) << completed.status().ToString();

  EXPECT_TRUE(Holds("(SELECT count(*) FROM tw.evaluations) = 0"));
  EXPECT_TRUE(Holds("(SELECT count(*) FROM tw.predictions) = 0"));
  auto jobs = Jobs();
  ASSERT_EQ(jobs.size(), 1u);
  EXPECT_EQ(jobs[0].state, JobState::kRunning);  // still under the worker's lease
  EXPECT_EQ(jobs[0].attempt, 1);

  auto reconnected = Connect();
  ASSERT_NE(reconnected, nullptr);
  TW_ASSERT_OK_AND_ASSIGN(int64_t id,
                          reconnected->CompleteJob(job.job_id, claim->lease_token, Record(job, c)));
  EXPECT_GT(id, 0);
  EXPECT_TRUE(Holds("(SELECT count(*) FROM tw.evaluations) = 1"));
  EXPECT_TRUE(Holds("(SELECT count(*) FROM tw.predictions) = 1"));
  EXPECT_EQ(Jobs().at(0).state, JobState::kDone);
}

// R2: the commit happened but the worker never heard (its connection is gone). Its retry, first
// on the same store object (what the daemon's worker does, within the lease) and then on a new
// connection, finds the job done under its own key: one evaluation, one predictions row.
TEST_F(QueueFaultTest, ARetryOnANewConnectionAfterTheOldOneDiedRecordsOnce) {
  int64_t c = AddCheckpoint("c.pt");
  TW_ASSERT_OK(store_->EnqueueJobs({Job(c, AddDataset("val"))}).status());
  auto worker = Connect();
  ASSERT_NE(worker, nullptr);
  TW_ASSERT_OK_AND_ASSIGN(auto claim, worker->ClaimNext(Request(1), "host-a"));
  ASSERT_TRUE(claim.has_value());
  const ClaimedJob job = claim->jobs.at(0);
  TW_ASSERT_OK_AND_ASSIGN(int64_t first,
                          worker->CompleteJob(job.job_id, claim->lease_token, Record(job, c)));
  // Every other session dies, the worker's among them (the test's own store reconnects below).
  ASSERT_TRUE(ExecuteSql(db_->conninfo(),
                         "SELECT pg_terminate_backend(pid) FROM pg_stat_activity "
                         "WHERE datname = current_database() AND pid <> pg_backend_pid()")
                  .ok());
  store_ = Connect();
  ASSERT_NE(store_, nullptr);

  // The same store object: an error saying the connection is gone, or (libpqxx reconnecting
  // by itself) the recorded id. Never a second row.
  auto retried = worker->CompleteJob(job.job_id, claim->lease_token, Record(job, c));
  if (retried.ok()) {
    EXPECT_EQ(*retried, first);
  } else {
    EXPECT_TRUE(Transient(retried.status())) << retried.status().ToString();
  }
  auto reconnected = Connect();
  ASSERT_NE(reconnected, nullptr);
  TW_ASSERT_OK_AND_ASSIGN(int64_t again,
                          reconnected->CompleteJob(job.job_id, claim->lease_token, Record(job, c)));
  EXPECT_EQ(again, first);
  EXPECT_TRUE(Holds("(SELECT count(*) FROM tw.evaluations) = 1"));
  EXPECT_TRUE(Holds("(SELECT count(*) FROM tw.predictions) = 1"));
  EXPECT_EQ(Jobs().at(0).state, JobState::kDone);
}

// Q5: planners on four connections queue the same 60 evaluation keys at the same moment:
// each key is queued once in all.
TEST_F(QueueFaultTest, ConcurrentPlannersQueueEachKeyOnce) {
  std::vector<DatasetVersionInfo> versions = {AddDataset("val"), AddDataset("v2"),
                                              AddDataset("sketch")};
  std::vector<NewJob> jobs;
  for (int i = 0; i < 20; ++i) {
    int64_t id = AddCheckpoint("c" + std::to_string(i) + ".pt");
    for (const auto& v : versions) jobs.push_back(Job(id, v));
  }
  constexpr int kPlanners = 4;
  std::atomic<int> waiting{kPlanners};
  std::atomic<int> queued{0}, already{0}, errors{0};
  std::vector<std::thread> planners;
  for (int p = 0; p < kPlanners; ++p) {
    planners.emplace_back([&] {
      auto store = PgStore::Connect(db_->conninfo());
      if (!store.ok()) {
        ++errors;
        --waiting;
        return;
      }
      // A barrier: every planner is connected before any inserts.
      --waiting;
      while (waiting.load() > 0) std::this_thread::yield();
      auto result = (*store)->EnqueueJobs(jobs);
      if (!result.ok()) {
        ++errors;
        return;
      }
      queued += result->queued;
      already += result->already_queued;
    });
  }
  for (auto& t : planners) t.join();
  EXPECT_EQ(errors.load(), 0);
  EXPECT_EQ(queued.load(), 60);
  EXPECT_EQ(already.load(), 60 * (kPlanners - 1));
  TW_ASSERT_OK_AND_ASSIGN(JobCounts counts, store_->CountJobs());
  EXPECT_EQ(counts.pending, 60);
}

// Q8: there is no leader; every daemon rescues expired leases. Four rescuers at once, over
// several rounds: each expired claim is rescued exactly once (one "lease expired" error, one
// attempt), whoever does it.
TEST_F(QueueFaultTest, ConcurrentRescuersRescueEachExpiredJobOnce) {
  DatasetVersionInfo val = AddDataset("val");
  std::vector<NewJob> jobs;
  for (int i = 0; i < 20; ++i) {
    jobs.push_back(Job(AddCheckpoint("c" + std::to_string(i)), val));
    jobs.back().max_attempts = 10;  // three rescues must leave them pending, not dead
  }
  TW_ASSERT_OK(store_->EnqueueJobs(jobs).status());
  constexpr int kRescuers = 4;
  std::vector<std::unique_ptr<PgStore>> rescuers;
  for (int r = 0; r < kRescuers; ++r) {
    rescuers.push_back(Connect());
    ASSERT_NE(rescuers.back(), nullptr);
  }
  for (int round = 1; round <= 3; ++round) {
    SCOPED_TRACE("round " + std::to_string(round));
    for (int i = 0; i < 20; ++i) {
      TW_ASSERT_OK_AND_ASSIGN(auto claim, store_->ClaimNext(Request(100 * round + i), "host-a"));
      ASSERT_TRUE(claim.has_value());
      EXPECT_EQ(claim->jobs.at(0).attempt, round);
    }
    ASSERT_TRUE(
        ExecuteSql(db_->conninfo(), "UPDATE tw.jobs SET lease_expires_at = now() - interval '1s'")
            .ok());
    std::atomic<int> waiting{kRescuers}, rescued{0}, errors{0};
    std::vector<std::thread> threads;
    for (int r = 0; r < kRescuers; ++r) {
      threads.emplace_back([&, r] {
        --waiting;
        while (waiting.load() > 0) std::this_thread::yield();
        auto n = rescuers[r]->RescueExpiredLeases();
        if (n.ok()) {
          rescued += *n;
        } else {
          ++errors;
        }
      });
    }
    for (auto& t : threads) t.join();
    EXPECT_EQ(errors.load(), 0);
    EXPECT_EQ(rescued.load(), 20);
    for (const auto& job : Jobs()) {
      EXPECT_EQ(job.state, JobState::kPending);
      EXPECT_EQ(job.attempt, round);
      size_t expired = 0;
      for (size_t at = job.errors_json.find("lease expired"); at != std::string::npos;
           at = job.errors_json.find("lease expired", at + 1)) {
        ++expired;
      }
      EXPECT_EQ(expired, static_cast<size_t>(round)) << job.errors_json;
    }
  }
}

// Q10: a migration that fails half-way (its first statement ran) leaves nothing behind and is
// still pending; the error names it.
TEST_F(QueueFaultTest, AFailingMigrationRollsBackAndIsNamed) {
  TW_ASSERT_OK_AND_ASSIGN(std::vector<Migration> known, EmbeddedMigrations());
  Migration bad;
  bad.version = known.back().version + 1;
  char name[64];
  std::snprintf(name, sizeof(name), "%04d_half_done.sql", bad.version);
  bad.name = name;
  bad.sql = "CREATE TABLE tw.half_done (x integer); INSERT INTO tw.half_done VALUES (1 / 0);";
  bad.checksum = Sha256Hex(bad.sql);
  known.push_back(bad);
  auto applied = store_->Migrate(known, /*dry_run=*/false);
  ASSERT_FALSE(applied.ok());
  EXPECT_THAT(applied.status().message(), HasSubstr(bad.name));
  EXPECT_THAT(applied.status().message(), HasSubstr("division by zero"));
  EXPECT_TRUE(Holds("to_regclass('tw.half_done') IS NULL"));
  EXPECT_TRUE(Holds("NOT EXISTS (SELECT 1 FROM tw.schema_migrations WHERE version = " +
                    std::to_string(bad.version) + ")"));
  TW_ASSERT_OK_AND_ASSIGN(SchemaStatus status, store_->GetSchemaStatus(known));
  ASSERT_EQ(status.pending.size(), 1u);
  EXPECT_EQ(status.pending[0].version, bad.version);
}

}  // namespace
}  // namespace tw
