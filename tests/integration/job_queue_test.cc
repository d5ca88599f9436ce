// The job queue against a real PostgreSQL: planning, claims, leases and their fences, failures,
// rescue, operators' commands. Time-dependent cases back-date rows instead of sleeping.
#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <algorithm>
#include <atomic>
#include <map>
#include <mutex>
#include <set>
#include <thread>

#include "common/sha256.h"
#include "protocol/eval_config.h"
#include "store/pg_admin.h"
#include "tests/testing/queue_pg_test.h"
#include "tests/testing/status_matchers.h"

namespace tw {
namespace {

using ::testing::HasSubstr;
using ::tw::testing::StatusIs;

constexpr const char* kVersion = ::tw::testing::kQueueTestEvaluatorVersion;

class JobQueueTest : public ::tw::testing::QueuePgTest {};

TEST_F(JobQueueTest, EnqueueIsIdempotentAndKnowsRecordedKeys) {
  int64_t a = AddCheckpoint("a.pt");
  DatasetVersionInfo val = AddDataset("val");
  DatasetVersionInfo v2 = AddDataset("v2");
  TW_ASSERT_OK_AND_ASSIGN(auto unplanned,
                          store_->UnplannedCheckpoints(val.version_id, config_.sha256, 10));
  ASSERT_EQ(unplanned.size(), 1u);
  EXPECT_EQ(unplanned[0].display_name, "run/a.pt");
  EXPECT_EQ(unplanned[0].format, "torchscript");

  TW_ASSERT_OK_AND_ASSIGN(EnqueueResult first, store_->EnqueueJobs({Job(a, val)}));
  EXPECT_EQ(first.queued, 1);
  TW_ASSERT_OK_AND_ASSIGN(EnqueueResult again, store_->EnqueueJobs({Job(a, val)}));
  EXPECT_EQ(again.queued, 0);
  EXPECT_EQ(again.already_queued, 1);
  TW_ASSERT_OK_AND_ASSIGN(auto planned,
                          store_->UnplannedCheckpoints(val.version_id, config_.sha256, 10));
  EXPECT_TRUE(planned.empty());

  // A key evaluated already (by `transferwatch eval`, say) is queued as done.
  NewJob recorded = Job(a, v2);
  ClaimedJob as_claimed;
  as_claimed.evaluation_key = recorded.evaluation_key;
  as_claimed.version = v2;
  as_claimed.eval_config = config_;
  TW_ASSERT_OK(store_->RecordEvaluation(Record(as_claimed, a)).status());
  TW_ASSERT_OK_AND_ASSIGN(EnqueueResult done, store_->EnqueueJobs({recorded}));
  EXPECT_EQ(done.already_recorded, 1);
  TW_ASSERT_OK_AND_ASSIGN(JobCounts counts, store_->CountJobs());
  EXPECT_EQ(counts.pending, 1);
  EXPECT_EQ(counts.done, 1);
}

TEST_F(JobQueueTest, ClaimTakesEveryJobOfOneCheckpointByPriority) {
  int64_t old_one = AddCheckpoint("old.pt");
  int64_t new_one = AddCheckpoint("new.pt");
  DatasetVersionInfo val = AddDataset("val");
  DatasetVersionInfo v2 = AddDataset("v2");
  DatasetVersionInfo sketch = AddDataset("sketch");
  TW_ASSERT_OK(store_->EnqueueJobs({Job(old_one, val, 0), Job(old_one, v2, 0)}).status());
  TW_ASSERT_OK(
      store_
          ->EnqueueJobs({Job(new_one, val, 100), Job(new_one, v2, 100), Job(new_one, sketch, 100)})
          .status());

  TW_ASSERT_OK_AND_ASSIGN(auto first, store_->ClaimNext(Request(1), "host-a"));
  ASSERT_TRUE(first.has_value());
  EXPECT_EQ(first->checkpoint_id, new_one);  // the higher priority
  ASSERT_EQ(first->jobs.size(), 3u);
  EXPECT_EQ(first->jobs[0].attempt, 1);
  EXPECT_EQ(first->jobs[0].version.name, "val");
  EXPECT_EQ(first->jobs[0].version.version_id, val.version_id);
  EXPECT_EQ(first->paths, std::vector<std::string>{"/ckpt/run/new.pt"});

  // A host that never saw the file claims nothing: it is not its to fail on.
  TW_ASSERT_OK_AND_ASSIGN(auto elsewhere, store_->ClaimNext(Request(5), "host-b"));
  EXPECT_FALSE(elsewhere.has_value());
  TW_ASSERT_OK_AND_ASSIGN(auto second, store_->ClaimNext(Request(2), "host-a"));
  ASSERT_TRUE(second.has_value());
  EXPECT_EQ(second->checkpoint_id, old_one);
  EXPECT_EQ(second->jobs.size(), 2u);

  // One job of a claim given back alone: pending again, the attempt not counted.
  TW_ASSERT_OK_AND_ASSIGN(bool released,
                          store_->ReleaseJob(second->jobs[1].job_id, second->lease_token));
  EXPECT_TRUE(released);
  TW_ASSERT_OK_AND_ASSIGN(auto held,
                          store_->Heartbeat(second->lease_token, std::chrono::seconds(60)));
  EXPECT_EQ(held, std::vector<int64_t>{second->jobs[0].job_id});
  TW_ASSERT_OK_AND_ASSIGN(auto again, store_->ClaimNext(Request(6), "host-a"));
  ASSERT_TRUE(again.has_value());
  EXPECT_EQ(again->jobs.at(0).attempt, 1);
  TW_ASSERT_OK_AND_ASSIGN(
      released, store_->ReleaseJob(again->jobs[0].job_id, ::tw::testing::QueueTestToken(99)));
  EXPECT_FALSE(released);

  TW_ASSERT_OK_AND_ASSIGN(auto none, store_->ClaimNext(Request(3), "host-a"));
  EXPECT_FALSE(none.has_value());

  // Another evaluator version sees nothing: keys were computed with this one.
  int64_t third = AddCheckpoint("third.pt");
  TW_ASSERT_OK(store_->EnqueueJobs({Job(third, val)}).status());
  TW_ASSERT_OK_AND_ASSIGN(auto other, store_->ClaimNext(Request(4, "tw-eval other"), "host-a"));
  EXPECT_FALSE(other.has_value());
}

TEST_F(JobQueueTest, ConcurrentClaimersTakeEachJobOnce) {
  std::vector<DatasetVersionInfo> versions = {AddDataset("val"), AddDataset("v2"),
                                              AddDataset("sketch")};
  std::vector<NewJob> jobs;
  for (int i = 0; i < 30; ++i) {
    int64_t id = AddCheckpoint("c" + std::to_string(i) + ".pt");
    for (const auto& v : versions) jobs.push_back(Job(id, v));
  }
  TW_ASSERT_OK(store_->EnqueueJobs(jobs).status());

  std::mutex mu;
  std::map<int64_t, int> claims_per_job;
  std::set<int64_t> checkpoints;
  std::atomic<int> errors{0};
  std::vector<std::thread> workers;
  for (int w = 0; w < 6; ++w) {
    workers.emplace_back([&, w] {
      auto store = PgStore::Connect(db_->conninfo());
      if (!store.ok()) {
        ++errors;
        return;
      }
      for (int n = 0;; ++n) {
        ClaimRequest request = Request(1000 * (w + 1) + n);
        auto claim = (*store)->ClaimNext(request, "host-a");
        if (!claim.ok()) {
          ++errors;
          return;
        }
        if (!claim->has_value()) return;
        for (const ClaimedJob& job : (*claim)->jobs) {
          auto id = (*store)->CompleteJob(job.job_id, request.lease_token,
                                          Record(job, (*claim)->checkpoint_id));
          if (!id.ok()) ++errors;
        }
        std::lock_guard<std::mutex> lock(mu);
        for (const ClaimedJob& job : (*claim)->jobs) ++claims_per_job[job.job_id];
        EXPECT_TRUE(checkpoints.insert((*claim)->checkpoint_id).second)
            << "checkpoint claimed twice";
      }
    });
  }
  for (auto& t : workers) t.join();
  EXPECT_EQ(errors.load(), 0);
  EXPECT_EQ(claims_per_job.size(), 90u);
  for (const auto& [job, n] : claims_per_job) EXPECT_EQ(n, 1) << "job " << job;
  EXPECT_EQ(checkpoints.size(), 30u);
  TW_ASSERT_OK_AND_ASSIGN(JobCounts counts, store_->CountJobs());
  EXPECT_EQ(counts.done, 90);
  TW_ASSERT_OK_AND_ASSIGN(StoreCounts stored, store_->Counts());
  EXPECT_EQ(stored.evaluations, 90);
}

TEST_F(JobQueueTest, AnExpiredLeaseIsRescuedAndTheOldWorkerIsFencedOff) {
  int64_t c = AddCheckpoint("c.pt");
  DatasetVersionInfo val = AddDataset("val");
  TW_ASSERT_OK(store_->EnqueueJobs({Job(c, val)}).status());
  TW_ASSERT_OK_AND_ASSIGN(auto slow, store_->ClaimNext(Request(1), "host-a"));
  ASSERT_TRUE(slow.has_value());
  const ClaimedJob job = slow->jobs.at(0);

  // Nothing to rescue while the lease holds; the heartbeat holds it.
  TW_ASSERT_OK_AND_ASSIGN(int rescued, store_->RescueExpiredLeases());
  EXPECT_EQ(rescued, 0);
  TW_ASSERT_OK_AND_ASSIGN(auto held,
                          store_->Heartbeat(slow->lease_token, std::chrono::seconds(60)));
  EXPECT_EQ(held, std::vector<int64_t>{job.job_id});

  // The worker stops renewing (killed, partitioned): its lease runs out.
  Sql("UPDATE tw.jobs SET lease_expires_at = now() - interval '1 second'");
  TW_ASSERT_OK_AND_ASSIGN(rescued, store_->RescueExpiredLeases());
  EXPECT_EQ(rescued, 1);
  TW_ASSERT_OK_AND_ASSIGN(auto listed, store_->ListJobs(JobFilter{}));
  ASSERT_EQ(listed.size(), 1u);
  EXPECT_EQ(listed[0].state, JobState::kPending);
  EXPECT_THAT(listed[0].last_error.value_or(""), HasSubstr("lease expired"));
  EXPECT_THAT(listed[0].errors_json, HasSubstr("host-a:1:1"));

  TW_ASSERT_OK_AND_ASSIGN(auto fresh, store_->ClaimNext(Request(2), "host-a"));
  ASSERT_TRUE(fresh.has_value());
  EXPECT_EQ(fresh->jobs.at(0).attempt, 2);

  // The old worker wakes up: its heartbeat holds nothing and its result is refused.
  TW_ASSERT_OK_AND_ASSIGN(held, store_->Heartbeat(slow->lease_token, std::chrono::seconds(60)));
  EXPECT_TRUE(held.empty());
  EXPECT_THAT(store_->CompleteJob(job.job_id, slow->lease_token, Record(job, c)),
              StatusIs(StatusCode::kFailedPrecondition, HasSubstr("lost its lease")));
  EXPECT_THAT(store_->FailJob(job.job_id, slow->lease_token, Failure("late", false)),
              StatusIs(StatusCode::kFailedPrecondition, ::testing::_));
  TW_ASSERT_OK_AND_ASSIGN(StoreCounts before, store_->Counts());
  EXPECT_EQ(before.evaluations, 0);

  TW_ASSERT_OK_AND_ASSIGN(int64_t recorded,
                          store_->CompleteJob(job.job_id, fresh->lease_token, Record(job, c)));
  // A retry of a commit whose answer was lost finds it done under the same key.
  TW_ASSERT_OK_AND_ASSIGN(int64_t retried,
                          store_->CompleteJob(job.job_id, fresh->lease_token, Record(job, c)));
  EXPECT_EQ(retried, recorded);
  TW_ASSERT_OK_AND_ASSIGN(StoreCounts after, store_->Counts());
  EXPECT_EQ(after.evaluations, 1);
}

// The result and the debt of its transfer checks commit together; the mark goes only when the
// checks ran, and only if no newer result marked the checkpoint again meanwhile.
TEST_F(JobQueueTest, ARecordedResultLeavesItsTransferChecksOwedUntilCleared) {
  int64_t c = AddCheckpoint("c.pt");
  DatasetVersionInfo val = AddDataset("val");
  DatasetVersionInfo v2 = AddDataset("v2");
  TW_ASSERT_OK(store_->EnqueueJobs({Job(c, val), Job(c, v2)}).status());
  TW_ASSERT_OK_AND_ASSIGN(auto claim, store_->ClaimNext(Request(1), "host-a"));
  ASSERT_TRUE(claim.has_value());
  ASSERT_EQ(claim->jobs.size(), 2u);
  TW_ASSERT_OK_AND_ASSIGN(auto owed, store_->ListChecksDue(ChecksDueFilter{}));
  EXPECT_TRUE(owed.empty()) << "nothing is owed before a result";

  const ClaimedJob first = claim->jobs.at(0);
  TW_ASSERT_OK(store_->CompleteJob(first.job_id, claim->lease_token, Record(first, c)).status());
  TW_ASSERT_OK_AND_ASSIGN(owed, store_->ListChecksDue(ChecksDueFilter{}));
  ASSERT_EQ(owed.size(), 1u);
  EXPECT_EQ(owed[0].checkpoint_id, c);
  EXPECT_EQ(owed[0].display_name, "run/c.pt");
  EXPECT_EQ(owed[0].run, "run");
  ChecksDueFilter old_only;
  old_only.older_than = std::chrono::hours(1);  // the sweep leaves fresh marks to their worker
  TW_ASSERT_OK_AND_ASSIGN(auto old, store_->ListChecksDue(old_only));
  EXPECT_TRUE(old.empty());

  // The second result marks the checkpoint again while the first one's checks run: clearing
  // with the first mark leaves the second.
  const ClaimedJob second = claim->jobs.at(1);
  TW_ASSERT_OK(store_->CompleteJob(second.job_id, claim->lease_token, Record(second, c)).status());
  TW_ASSERT_OK(store_->ClearChecksDue(c, owed[0].due_micros));
  TW_ASSERT_OK_AND_ASSIGN(auto still, store_->ListChecksDue(ChecksDueFilter{}));
  ASSERT_EQ(still.size(), 1u);
  EXPECT_GT(still[0].due_micros, owed[0].due_micros);
  TW_ASSERT_OK(store_->ClearChecksDue(c, still[0].due_micros));
  TW_ASSERT_OK_AND_ASSIGN(still, store_->ListChecksDue(ChecksDueFilter{}));
  EXPECT_TRUE(still.empty());

  ChecksDueFilter bad;
  bad.limit = 0;
  EXPECT_THAT(store_->ListChecksDue(bad),
              StatusIs(StatusCode::kInvalidArgument, HasSubstr("limit")));
}

TEST_F(JobQueueTest, FailuresBackOffThenEndDeadWithTheirErrors) {
  int64_t c = AddCheckpoint("c.pt");
  DatasetVersionInfo val = AddDataset("val");
  TW_ASSERT_OK(store_->EnqueueJobs({Job(c, val)}).status());
  for (int attempt = 1; attempt <= 3; ++attempt) {
    TW_ASSERT_OK_AND_ASSIGN(auto claim, store_->ClaimNext(Request(attempt), "host-a"));
    ASSERT_TRUE(claim.has_value()) << "attempt " << attempt;
    EXPECT_EQ(claim->jobs.at(0).attempt, attempt);
    JobFailure failure = Failure("evaluator crashed: killed by signal 11 (SIGSEGV)", false);
    failure.retry_after = std::chrono::minutes(10);
    TW_ASSERT_OK_AND_ASSIGN(JobState state,
                            store_->FailJob(claim->jobs[0].job_id, claim->lease_token, failure));
    if (attempt < 3) {
      EXPECT_EQ(state, JobState::kPending);
      // Backing off: not claimable before run_after.
      TW_ASSERT_OK_AND_ASSIGN(auto early, store_->ClaimNext(Request(100 + attempt), "host-a"));
      EXPECT_FALSE(early.has_value());
      Sql("UPDATE tw.jobs SET run_after = now() - interval '1 second'");
    } else {
      EXPECT_EQ(state, JobState::kDead);
    }
  }
  TW_ASSERT_OK_AND_ASSIGN(auto dead, store_->ListJobs(States({JobState::kDead})));
  ASSERT_EQ(dead.size(), 1u);
  EXPECT_THAT(dead[0].last_error.value_or(""), HasSubstr("SIGSEGV"));
  EXPECT_THAT(dead[0].errors_json, HasSubstr("\"attempt\": 3"));
  EXPECT_TRUE(dead[0].finished_at.has_value());

  // An operator retries it: a fresh set of attempts, the old errors kept.
  TW_ASSERT_OK_AND_ASSIGN(int retried, store_->RetryJobs(States({JobState::kDead})));
  EXPECT_EQ(retried, 1);
  TW_ASSERT_OK_AND_ASSIGN(auto again, store_->ClaimNext(Request(50), "host-a"));
  ASSERT_TRUE(again.has_value());
  EXPECT_EQ(again->jobs.at(0).attempt, 1);
  TW_ASSERT_OK_AND_ASSIGN(auto listed, store_->ListJobs(JobFilter{}));
  EXPECT_THAT(listed.at(0).errors_json, HasSubstr("SIGSEGV"));

  // A permanent failure is dead at once.
  TW_ASSERT_OK_AND_ASSIGN(JobState state, store_->FailJob(again->jobs[0].job_id, again->lease_token,
                                                          Failure("not a checkpoint", true)));
  EXPECT_EQ(state, JobState::kDead);
}

TEST_F(JobQueueTest, ReleasedClaimsDoNotCountAnAttempt) {
  int64_t c = AddCheckpoint("c.pt");
  DatasetVersionInfo val = AddDataset("val");
  TW_ASSERT_OK(store_->EnqueueJobs({Job(c, val)}).status());
  TW_ASSERT_OK_AND_ASSIGN(auto claim, store_->ClaimNext(Request(1), "host-a"));
  ASSERT_TRUE(claim.has_value());
  TW_ASSERT_OK_AND_ASSIGN(int released, store_->ReleaseClaim(claim->lease_token));
  EXPECT_EQ(released, 1);
  TW_ASSERT_OK_AND_ASSIGN(auto again, store_->ClaimNext(Request(2), "host-a"));
  ASSERT_TRUE(again.has_value());
  EXPECT_EQ(again->jobs.at(0).attempt, 1);
}

TEST_F(JobQueueTest, CancelStopsHeartbeatsAndCompletion) {
  int64_t c = AddCheckpoint("c.pt");
  DatasetVersionInfo val = AddDataset("val");
  DatasetVersionInfo v2 = AddDataset("v2");
  TW_ASSERT_OK(store_->EnqueueJobs({Job(c, val), Job(c, v2)}).status());
  TW_ASSERT_OK_AND_ASSIGN(auto claim, store_->ClaimNext(Request(1), "host-a"));
  ASSERT_TRUE(claim.has_value());
  JobFilter one;
  one.dataset = "v2";
  TW_ASSERT_OK_AND_ASSIGN(int cancelled, store_->CancelJobs(one));
  EXPECT_EQ(cancelled, 1);
  TW_ASSERT_OK_AND_ASSIGN(auto held,
                          store_->Heartbeat(claim->lease_token, std::chrono::seconds(60)));
  EXPECT_EQ(held, std::vector<int64_t>{claim->jobs.at(0).job_id});
  EXPECT_THAT(store_->CompleteJob(claim->jobs.at(1).job_id, claim->lease_token,
                                  Record(claim->jobs.at(1), c)),
              StatusIs(StatusCode::kFailedPrecondition, ::testing::_));
  EXPECT_THAT(store_->Heartbeat("not-a-token", std::chrono::seconds(1)),
              StatusIs(StatusCode::kInvalidArgument, ::testing::_));
}

TEST_F(JobQueueTest, StateDictCheckpointsArePlannedAgainWhenTheirArchitectureChanges) {
  int64_t c = AddCheckpoint("weights.pt", "state_dict");
  DatasetVersionInfo val = AddDataset("val");
  TW_ASSERT_OK_AND_ASSIGN(auto unplanned,
                          store_->UnplannedCheckpoints(val.version_id, config_.sha256, 10));
  ASSERT_EQ(unplanned.size(), 1u);
  EXPECT_FALSE(unplanned[0].run_arch_sha256.has_value());
  std::string arch = Sha256Hex("arch-1");
  TW_ASSERT_OK(store_->SetRunArch("run", "/ckpt/run/arch.pt", arch));
  TW_ASSERT_OK_AND_ASSIGN(unplanned,
                          store_->UnplannedCheckpoints(val.version_id, config_.sha256, 10));
  ASSERT_EQ(unplanned.size(), 1u);
  EXPECT_EQ(unplanned[0].run_arch_sha256, arch);
  NewJob job = Job(c, val);
  job.arch_sha256 = arch;
  TW_ASSERT_OK(store_->EnqueueJobs({job}).status());
  TW_ASSERT_OK_AND_ASSIGN(unplanned,
                          store_->UnplannedCheckpoints(val.version_id, config_.sha256, 10));
  EXPECT_TRUE(unplanned.empty());
  TW_ASSERT_OK(store_->SetRunArch("run", "/ckpt/run/arch.pt", Sha256Hex("arch-2")));
  TW_ASSERT_OK_AND_ASSIGN(unplanned,
                          store_->UnplannedCheckpoints(val.version_id, config_.sha256, 10));
  EXPECT_EQ(unplanned.size(), 1u);
  EXPECT_THAT(store_->SetRunArch("nope", std::nullopt, std::nullopt),
              StatusIs(StatusCode::kNotFound, ::testing::_));
}

TEST_F(JobQueueTest, KnownFilesAreFoundBySizeAndMtime) {
  int64_t c = AddCheckpoint("c.pt");
  TW_ASSERT_OK_AND_ASSIGN(auto found,
                          store_->FindCheckpointFile("host-a", "/ckpt/run/c.pt", 100, 1));
  EXPECT_EQ(found, c);
  TW_ASSERT_OK_AND_ASSIGN(found, store_->FindCheckpointFile("host-a", "/ckpt/run/c.pt", 100, 2));
  EXPECT_FALSE(found.has_value());
  TW_ASSERT_OK_AND_ASSIGN(found, store_->FindCheckpointFile("host-b", "/ckpt/run/c.pt", 100, 1));
  EXPECT_FALSE(found.has_value());
}

TEST_F(JobQueueTest, CheckpointsNewerThanTheDatasetAreToldFromBackFills) {
  int64_t old_one = AddCheckpoint("old.pt");
  Sql("UPDATE tw.checkpoints SET created_at = now() - interval '1 hour'");
  DatasetVersionInfo val = AddDataset("val");
  Sql("UPDATE tw.dataset_versions SET created_at = now() - interval '1 minute'");
  int64_t new_one = AddCheckpoint("new.pt");
  TW_ASSERT_OK_AND_ASSIGN(auto unplanned,
                          store_->UnplannedCheckpoints(val.version_id, config_.sha256, 10));
  ASSERT_EQ(unplanned.size(), 2u);
  for (const auto& c : unplanned) {
    EXPECT_EQ(c.newer_than_dataset, c.checkpoint_id == new_one) << c.display_name;
    EXPECT_TRUE(c.checkpoint_id == old_one || c.checkpoint_id == new_one);
  }
}

}  // namespace
}  // namespace tw
