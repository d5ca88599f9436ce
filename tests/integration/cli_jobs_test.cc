// `transferwatch jobs list|retry|cancel|wait`, `status` and `runs set-arch|clear-arch` against a
// real PostgreSQL, with jobs seeded through the JobQueue directly.
#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <algorithm>
#include <chrono>
#include <nlohmann/json.hpp>

#include "common/sha256.h"
#include "common/version.h"
#include "protocol/eval_config.h"
#include "store/pg_admin.h"
#include "tests/testing/cli.h"
#include "tests/testing/queue_pg_test.h"
#include "tests/testing/temp_dir.h"

namespace tw {
namespace {

using ::testing::HasSubstr;
using ::tw::testing::TempDir;
using ::tw::testing::WriteTestFile;

class CliJobsTest : public ::tw::testing::QueuePgTest {
 protected:
  std::vector<std::string> WithDb(std::vector<std::string> args) {
    args.insert(args.begin(), {"--database", db_->conninfo()});
    return args;
  }
  ProcessResult Cli(std::vector<std::string> args) {
    return ::tw::testing::RunCli(WithDb(std::move(args)));
  }
  nlohmann::json Json(std::vector<std::string> args) {
    return ::tw::testing::RunCliJson(WithDb(std::move(args)));
  }

  // Three pending jobs on dataset "toy": a.pt, b.pt, c.pt.
  std::vector<int64_t> SeedJobs() {
    DatasetVersionInfo toy = AddDataset("toy");
    std::vector<NewJob> jobs;
    for (const char* name : {"a.pt", "b.pt", "c.pt"})
      jobs.push_back(Job(AddCheckpoint(name, "state_dict"), toy));
    auto queued = store_->EnqueueJobs(jobs);
    EXPECT_TRUE(queued.ok()) << queued.status().ToString();
    EXPECT_EQ(queued.ok() ? queued->queued : 0, 3);
    std::vector<int64_t> ids;
    auto listed = store_->ListJobs(JobFilter{});
    EXPECT_TRUE(listed.ok());
    for (const auto& j : *listed) ids.push_back(j.id);
    std::sort(ids.begin(), ids.end());
    return ids;
  }

  JobCounts Counts() {
    auto counts = store_->CountJobs();
    EXPECT_TRUE(counts.ok()) << counts.status().ToString();
    return counts.ok() ? *counts : JobCounts{};
  }

  TempDir tmp_;
};

TEST_F(CliJobsTest, ListFiltersByStateAndDataset) {
  std::vector<int64_t> ids = SeedJobs();
  ASSERT_EQ(ids.size(), 3u);
  nlohmann::json all = Json({"jobs", "list"});
  ASSERT_EQ(all["jobs"].size(), 3u);
  const auto& first = all["jobs"][0];  // newest first
  EXPECT_EQ(first["id"], ids[2]);
  EXPECT_EQ(first["checkpoint"], "run/c.pt");
  EXPECT_EQ(first["dataset"], "toy");
  EXPECT_EQ(first["state"], "pending");
  EXPECT_EQ(first["attempt"], "0/3");
  EXPECT_EQ(first["priority"], 0);
  EXPECT_TRUE(first["leased_by"].is_null());
  EXPECT_TRUE(first["last_error"].is_null());

  EXPECT_EQ(Json({"jobs", "list", "--state", "done"})["jobs"].size(), 0u);
  EXPECT_EQ(Json({"jobs", "list", "--state", "done", "--state", "pending"})["jobs"].size(), 3u);
  EXPECT_EQ(Json({"jobs", "list", "--dataset", "other"})["jobs"].size(), 0u);
  EXPECT_EQ(Json({"jobs", "list", "--limit", "2"})["jobs"].size(), 2u);

  auto table = Cli({"jobs", "list"});
  EXPECT_EQ(table.exit_code, 0) << table.output;
  EXPECT_THAT(table.output, HasSubstr("run/a.pt"));
  EXPECT_THAT(table.output, HasSubstr("0/3"));

  auto bad = Cli({"jobs", "list", "--state", "sleeping"});
  EXPECT_EQ(bad.exit_code, 2);
  EXPECT_THAT(bad.output, HasSubstr("unknown job state 'sleeping'"));
}

TEST_F(CliJobsTest, CancelAndRetry) {
  std::vector<int64_t> ids = SeedJobs();
  ASSERT_EQ(ids.size(), 3u);
  auto none = Cli({"jobs", "cancel"});
  EXPECT_EQ(none.exit_code, 2);
  EXPECT_THAT(none.output, HasSubstr("--pending"));
  auto no_retry = Cli({"jobs", "retry"});
  EXPECT_EQ(no_retry.exit_code, 2);
  EXPECT_THAT(no_retry.output, HasSubstr("--dead"));

  auto cancelled = Cli({"jobs", "cancel", "--pending"});
  EXPECT_EQ(cancelled.exit_code, 0) << cancelled.output;
  EXPECT_THAT(cancelled.output, HasSubstr("3 job(s) cancelled"));
  EXPECT_EQ(Counts().cancelled, 3);

  // --dead selects none of the cancelled jobs; --id selects them one by one.
  auto dead = Cli({"jobs", "retry", "--dead"});
  EXPECT_EQ(dead.exit_code, 0) << dead.output;
  EXPECT_THAT(dead.output, HasSubstr("0 job(s) queued again"));
  auto retried =
      Cli({"jobs", "retry", "--id", std::to_string(ids[0]), "--id", std::to_string(ids[1])});
  EXPECT_EQ(retried.exit_code, 0) << retried.output;
  EXPECT_THAT(retried.output, HasSubstr("2 job(s) queued again"));
  JobCounts counts = Counts();
  EXPECT_EQ(counts.pending, 2);
  EXPECT_EQ(counts.cancelled, 1);
  nlohmann::json pending = Json({"jobs", "list", "--state", "pending"});
  ASSERT_EQ(pending["jobs"].size(), 2u);
  EXPECT_EQ(pending["jobs"][1]["id"], ids[0]);

  nlohmann::json one = Json({"jobs", "cancel", "--id", std::to_string(ids[0])});
  EXPECT_EQ(one["jobs"], 1);
  EXPECT_EQ(Counts().pending, 1);
}

TEST_F(CliJobsTest, DeadJobsShowTheirErrorAndRetryWithDead) {
  SeedJobs();
  ClaimRequest request = Request(0);
  auto claim = store_->ClaimNext(request, "host-a");
  ASSERT_TRUE(claim.ok() && claim->has_value()) << claim.status().ToString();
  ASSERT_EQ((*claim)->jobs.size(), 1u);
  JobFailure failure;
  failure.error = "not a checkpoint: " + std::string(100, 'x') + " END";
  failure.worker = request.worker;
  failure.permanent = true;
  auto state = store_->FailJob((*claim)->jobs[0].job_id, request.lease_token, failure);
  ASSERT_TRUE(state.ok()) << state.status().ToString();
  ASSERT_EQ(*state, JobState::kDead);

  nlohmann::json dead = Json({"jobs", "list", "--state", "dead"});
  ASSERT_EQ(dead["jobs"].size(), 1u);
  EXPECT_EQ(dead["jobs"][0]["last_error"], failure.error);  // JSON: in full
  EXPECT_EQ(dead["jobs"][0]["attempt"], "1/3");
  auto table = Cli({"jobs", "list", "--state", "dead"});
  EXPECT_EQ(table.exit_code, 0) << table.output;
  EXPECT_THAT(table.output, HasSubstr("not a checkpoint: xxx"));
  EXPECT_THAT(table.output, ::testing::Not(HasSubstr("END")));  // the table: 60 characters

  auto retried = Cli({"jobs", "retry", "--dead"});
  EXPECT_EQ(retried.exit_code, 0) << retried.output;
  EXPECT_THAT(retried.output, HasSubstr("1 job(s) queued again"));
  EXPECT_EQ(Counts().pending, 3);
}

TEST_F(CliJobsTest, WaitReturnsWhenIdleAndTimesOutOtherwise) {
  auto idle = Cli({"jobs", "wait"});
  EXPECT_EQ(idle.exit_code, 0) << idle.output;
  EXPECT_THAT(idle.output, HasSubstr("0 pending, 0 running"));

  SeedJobs();
  auto start = std::chrono::steady_clock::now();
  auto busy = Cli({"jobs", "wait", "--timeout", "1s"});
  auto took = std::chrono::steady_clock::now() - start;
  EXPECT_EQ(busy.exit_code, 1) << busy.output;
  EXPECT_THAT(busy.output, HasSubstr("3 pending and 0 running"));
  EXPECT_GE(took, std::chrono::milliseconds(900));

  auto bad = Cli({"jobs", "wait", "--timeout", "soon"});
  EXPECT_EQ(bad.exit_code, 2) << bad.output;

  ASSERT_EQ(Cli({"jobs", "cancel", "--pending"}).exit_code, 0);
  nlohmann::json done = Json({"jobs", "wait", "--timeout", "5s"});
  EXPECT_EQ(done["pending"], 0);
  EXPECT_EQ(done["cancelled"], 3);
}

TEST_F(CliJobsTest, StatusCountsJobsAndRecords) {
  std::vector<int64_t> ids = SeedJobs();
  ASSERT_EQ(ids.size(), 3u);
  ASSERT_EQ(Cli({"jobs", "cancel", "--id", std::to_string(ids[0])}).exit_code, 0);
  nlohmann::json status = Json({"status"});
  EXPECT_EQ(status["jobs_pending"], 2);
  EXPECT_EQ(status["jobs_cancelled"], 1);
  EXPECT_EQ(status["jobs_running"], 0);
  EXPECT_EQ(status["jobs_done"], 0);
  EXPECT_EQ(status["jobs_dead"], 0);
  EXPECT_EQ(status["checkpoints"], 3);
  EXPECT_EQ(status["evaluations"], 0);
  EXPECT_EQ(status["datasets"], 1);
  auto table = Cli({"status"});
  EXPECT_EQ(table.exit_code, 0) << table.output;
  EXPECT_THAT(table.output, HasSubstr("checkpoints"));
}

TEST_F(CliJobsTest, RunsSetAndClearArch) {
  AddCheckpoint("a.pt", "state_dict");
  DatasetVersionInfo other = AddDataset("other");
  auto arch_of_run = [&]() -> std::optional<std::string> {
    auto candidates = store_->UnplannedCheckpoints(other.version_id, config_.sha256, 10);
    EXPECT_TRUE(candidates.ok()) << candidates.status().ToString();
    if (!candidates.ok() || candidates->empty()) return std::nullopt;
    return candidates->front().run_arch_sha256;
  };

  std::string file = tmp_.Sub("arch.pt");
  WriteTestFile(file, "architecture bytes");
  std::string sha = Sha256Hex("architecture bytes");
  auto set = Cli({"runs", "set-arch", "run", file});
  EXPECT_EQ(set.exit_code, 0) << set.output;
  EXPECT_THAT(set.output, HasSubstr("run run: architecture"));
  EXPECT_THAT(set.output, HasSubstr("arch.pt (" + sha.substr(0, 12) + ")"));
  EXPECT_EQ(arch_of_run(), sha);

  // A run that does not exist yet is created.
  nlohmann::json fresh = Json({"runs", "set-arch", "later", file});
  EXPECT_EQ(fresh["arch_sha256"], sha);

  auto missing = Cli({"runs", "set-arch", "run", tmp_.Sub("nope.pt")});
  EXPECT_NE(missing.exit_code, 0);
  EXPECT_THAT(missing.output, HasSubstr("nope.pt"));
  auto folder = Cli({"runs", "set-arch", "run", tmp_.path()});
  EXPECT_EQ(folder.exit_code, 2) << folder.output;
  EXPECT_THAT(folder.output, HasSubstr("not a regular file"));
  EXPECT_EQ(arch_of_run(), sha);

  auto cleared = Cli({"runs", "clear-arch", "run"});
  EXPECT_EQ(cleared.exit_code, 0) << cleared.output;
  EXPECT_EQ(arch_of_run(), std::nullopt);
  EXPECT_EQ(Cli({"runs", "clear-arch", "no-such-run"}).exit_code, 3);
}

TEST_F(CliJobsTest, ReevaluateAfterAnUpgradeIsExplicitAndIdempotent) {
  // Three jobs planned for an older evaluator; one of them has its result recorded.
  std::vector<int64_t> ids = SeedJobs();
  ASSERT_TRUE(ExecuteSql(db_->conninfo(),
                         "UPDATE tw.jobs SET state = 'done', finished_at = now() "
                         "WHERE id = " +
                             std::to_string(ids[0]))
                  .ok());
  nlohmann::json first = Json({"jobs", "reevaluate"});
  EXPECT_EQ(first["evaluator_version"], kEvaluatorVersion);
  EXPECT_EQ(first["queued"], 1);  // the recorded one; pending jobs are left alone
  EXPECT_EQ(first["replaced"], 0);
  nlohmann::json again = Json({"jobs", "reevaluate"});
  EXPECT_EQ(again["queued"], 0);
  EXPECT_EQ(again["already_queued"], 1);

  nlohmann::json pending = Json({"jobs", "reevaluate", "--pending"});
  EXPECT_EQ(pending["queued"], 2);
  EXPECT_EQ(pending["replaced"], 2);
  JobFilter waiting;
  waiting.states = {JobState::kPending};
  auto jobs = store_->ListJobs(waiting);
  ASSERT_TRUE(jobs.ok());
  ASSERT_EQ(jobs->size(), 3u);
  for (const auto& job : *jobs) {
    EXPECT_EQ(job.evaluator_version, kEvaluatorVersion);
    EXPECT_NE(job.evaluation_key, "");
  }
  EXPECT_EQ(Counts().cancelled, 2);
  EXPECT_EQ(Counts().done, 1);  // the old result stays
}

}  // namespace
}  // namespace tw
