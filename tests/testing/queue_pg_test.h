// What the job-queue tests share (tests/integration/job_queue_test.cc, cli_jobs_test.cc,
// tests/reliability/queue_faults_integration_test.cc): a migrated scratch database, and
// checkpoints, datasets, jobs, claims and results made the way the daemon makes them, with
// fixed names so that the tests can read their keys back.
#pragma once

#include <gtest/gtest.h>

#include <string>
#include <utility>
#include <vector>

#include "common/sha256.h"
#include "protocol/eval_config.h"
#include "store/pg_admin.h"
#include "tests/testing/pg_test.h"

namespace tw::testing {

inline constexpr const char* kQueueTestEvaluatorVersion = "tw-eval test";

// Lease token number `n`: 32 lowercase hex digits, distinct per n.
inline std::string QueueTestToken(int n) {
  return Sha256Hex("token" + std::to_string(n)).substr(0, 32);
}

class QueuePgTest : public PgTest {
 protected:
  void SetUp() override {
    PgTest::SetUp();
    if (HasFatalFailure()) return;
    auto hashed = HashEvalConfig(EvalConfig{});
    ASSERT_TRUE(hashed.ok());
    config_ = ImportedEvalConfig{hashed->sha256, hashed->hash_version, hashed->canonical};
  }

  // A checkpoint file `name` of run "run".
  int64_t AddCheckpoint(const std::string& name, const std::string& format = "torchscript") {
    CheckpointFileRegistration reg;
    reg.run = "run";
    reg.file_name = name;
    reg.sha256 = Sha256Hex(name);
    reg.size_bytes = 100;
    reg.path = "/ckpt/run/" + name;
    reg.host = "host-a";
    reg.mtime_ns = 1;
    reg.format = format;
    auto info = store_->RegisterCheckpointFile(reg);
    EXPECT_TRUE(info.ok()) << info.status().ToString();
    return info.ok() ? info->id : 0;
  }

  DatasetVersionInfo AddDataset(const std::string& name) {
    DatasetRegistration reg;
    reg.name = name;
    reg.manifest_canonical = "{\"content\":\"" + name + "\"}";
    reg.manifest_sha256 = Sha256Hex(reg.manifest_canonical);
    reg.files_sha256 = Sha256Hex("files:" + name);
    reg.num_files = 3;
    reg.total_bytes = 300;
    reg.root = "/data/" + name;
    EXPECT_TRUE(store_->RegisterDataset(reg).ok());
    auto version = store_->GetDatasetVersion(name);
    EXPECT_TRUE(version.ok()) << version.status().ToString();
    return version.ok() ? *version : DatasetVersionInfo{};
  }

  NewJob Job(int64_t checkpoint_id, const DatasetVersionInfo& version, int priority = 0,
             const std::string& evaluator_version = kQueueTestEvaluatorVersion) {
    NewJob job;
    auto key =
        EvaluatorEvaluationKey(Sha256Hex(std::to_string(checkpoint_id)), std::nullopt, version.name,
                               version.manifest_sha256, config_.sha256, evaluator_version);
    EXPECT_TRUE(key.ok());
    job.evaluation_key = *key;
    job.checkpoint_id = checkpoint_id;
    job.dataset_version_id = version.version_id;
    job.eval_config = config_;
    job.evaluator_version = evaluator_version;
    job.priority = priority;
    job.max_attempts = 3;
    return job;
  }

  // The result a worker records for `job` (top-1 50 %, three samples, their predictions).
  EvaluationRecord Record(const ClaimedJob& job, int64_t checkpoint_id) {
    EvaluationRecord r;
    r.evaluation_key = job.evaluation_key;
    r.checkpoint_id = checkpoint_id;
    r.dataset = job.version.name;
    r.manifest_sha256 = job.version.manifest_sha256;
    r.eval_config = job.eval_config;
    r.top1 = 50;
    r.num_samples = 3;
    r.predictions = std::string("TWPR\x01\x00\x00\x00", 8) + std::string(8, '\0');
    r.predictions_digest = Sha256Hex(r.predictions);
    return r;
  }

  ClaimRequest Request(int n, const std::string& version = kQueueTestEvaluatorVersion) {
    ClaimRequest request;
    request.worker = "host-a:1:" + std::to_string(n);
    request.evaluator_version = version;
    request.lease_token = QueueTestToken(n);
    return request;
  }

  static JobFailure Failure(const std::string& error, bool permanent) {
    JobFailure failure;
    failure.error = error;
    failure.worker = "w";
    failure.permanent = permanent;
    return failure;
  }

  static JobFilter States(std::vector<JobState> states) {
    JobFilter filter;
    filter.states = std::move(states);
    return filter;
  }

  void Sql(const std::string& sql) { ASSERT_TRUE(ExecuteSql(db_->conninfo(), sql).ok()) << sql; }

  ImportedEvalConfig config_;
};

}  // namespace tw::testing
