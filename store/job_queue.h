// JobQueue: the evaluation job queue in PostgreSQL, shared by every daemon on every host.
//
// The guarantees (docs/daemon.md tells the whole story):
// - one job per evaluation key (a unique index), so planning twice or on two hosts is harmless;
// - a claim takes all claimable jobs of one checkpoint with FOR UPDATE SKIP LOCKED inside a
//   MATERIALIZED CTE and gives them a fresh lease token; completion, failure and heartbeats
//   match the token, so a worker whose lease expired and was handed to another writes nothing;
// - a job's evaluation is recorded in the same transaction that marks it done: at-least-once
//   execution, exactly-once recorded results;
// - expired leases are rescued (any daemon may do it), and a job that failed max_attempts times
//   ends `dead` with its errors kept.
// All times are the database server's (now()), so hosts with skewed clocks agree.
// Implementations are not thread-safe: one per thread (PgStore implements it).
#pragma once

#include <chrono>
#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "common/status.h"
#include "store/model.h"
#include "store/store.h"

namespace tw {

enum class JobState { kPending, kRunning, kDone, kDead, kCancelled };
std::string JobStateName(JobState state);  // "pending", ...
StatusOr<JobState> ParseJobState(const std::string& name);

// A (checkpoint, dataset version) pair the planner has not planned for a config yet.
struct PlanCandidate {
  int64_t checkpoint_id = 0;
  std::string checkpoint_sha256;
  std::string display_name;           // RUN/FILE
  std::optional<std::string> format;  // torchscript | state_dict | legacy; unknown: null
  std::optional<std::string> run_arch_sha256;
  // Registered after the dataset version: a new checkpoint, planned ahead of back-fills.
  bool newer_than_dataset = false;
};

struct NewJob {
  std::string evaluation_key;
  int64_t checkpoint_id = 0;
  int64_t dataset_version_id = 0;
  ImportedEvalConfig eval_config;  // sha256, hash version, canonical
  std::optional<std::string> arch_sha256;
  std::string evaluator_version;
  int priority = 0;
  int max_attempts = 3;
};

struct EnqueueResult {
  int queued = 0;            // new pending jobs
  int already_queued = 0;    // a job with that key existed
  int already_recorded = 0;  // the key was evaluated already (e.g. by `transferwatch eval`)
};

struct ClaimRequest {
  std::string worker;             // "host:pid:slot", shown in job listings
  std::string evaluator_version;  // only jobs computed for it
  std::chrono::milliseconds lease{std::chrono::minutes(2)};
  std::string lease_token;  // 32 lowercase hex digits, fresh for this claim
};

// One claimed job with what the evaluator needs for it.
struct ClaimedJob {
  int64_t job_id = 0;
  std::string evaluation_key;
  int attempt = 0;  // this attempt's number, from 1
  int max_attempts = 0;
  DatasetVersionInfo version;    // dataset name, root, manifest, default config
  std::string dataset_protocol;  // the dataset's protocol JSON
  ImportedEvalConfig eval_config;
  std::optional<std::string> arch_sha256;
};

struct Claim {
  std::string lease_token;
  int64_t checkpoint_id = 0;
  std::string checkpoint_sha256;
  std::string display_name;
  std::string run;                       // the run the checkpoint belongs to
  std::optional<int64_t> step;           // from its sidecar or name, when known
  std::vector<std::string> paths;        // where the bytes were seen on `host`, newest first
  std::optional<std::string> arch_path;  // the run's architecture file, when set
  std::vector<ClaimedJob> jobs;
};

struct JobFailure {
  std::string error;
  std::string worker;
  // A failure a retry cannot fix (a file that is not a checkpoint): dead at once.
  bool permanent = false;
  std::chrono::milliseconds retry_after{0};  // backoff before the next attempt
};

struct JobInfo {
  int64_t id = 0;
  std::string evaluation_key;
  int64_t checkpoint_id = 0;
  std::string checkpoint;  // RUN/FILE
  std::string checkpoint_sha256;
  std::string dataset;
  int dataset_version = 0;
  std::string eval_config_sha256;
  std::string evaluator_version;
  JobState state = JobState::kPending;
  int priority = 0;
  int attempt = 0;
  int max_attempts = 0;
  std::optional<std::string> leased_by;
  std::optional<TimePoint> lease_expires_at;
  TimePoint run_after;
  std::optional<TimePoint> started_at;
  std::optional<TimePoint> finished_at;
  std::optional<int64_t> evaluation_id;
  std::optional<std::string> last_error;
  std::string errors_json = "[]";
  TimePoint created_at;
  // What the key was computed from (re-keying for another evaluator version needs them).
  int64_t dataset_version_id = 0;
  std::string manifest_sha256;
  std::optional<std::string> arch_sha256;
  ImportedEvalConfig eval_config;
};

struct JobFilter {
  std::vector<JobState> states;  // empty: all
  std::optional<int64_t> checkpoint_id;
  std::optional<std::string> dataset;
  std::optional<int64_t> job_id;
  // Jobs keyed for an evaluator version other than this one.
  std::optional<std::string> other_evaluator_than;
  int64_t limit = 100;
};

struct JobCounts {
  int64_t pending = 0, running = 0, done = 0, dead = 0, cancelled = 0;
  int64_t Active() const { return pending + running; }
};

class JobQueue {
 public:
  virtual ~JobQueue() = default;

  // ---- Planning ---------------------------------------------------------------------------
  // File checkpoints with a known path that have no job for this dataset version and config
  // (of any evaluator version), oldest first, at most `limit`.
  virtual StatusOr<std::vector<PlanCandidate>> UnplannedCheckpoints(
      int64_t dataset_version_id, const std::string& eval_config_sha256, int limit) = 0;
  // Inserts the jobs in one transaction, by evaluation key: an existing job is kept; a key
  // already recorded gets a `done` job pointing at its evaluation. Wakes listening workers.
  virtual StatusOr<EnqueueResult> EnqueueJobs(const std::vector<NewJob>& jobs) = 0;

  // ---- Workers ----------------------------------------------------------------------------
  // Claims every claimable pending job of the checkpoint first in line (priority, then age)
  // among the checkpoints seen on `host`; nullopt when there is none.
  virtual StatusOr<std::optional<Claim>> ClaimNext(const ClaimRequest& request,
                                                   const std::string& host) = 0;
  // Extends the lease of the claim's running jobs; returns the ids still held (a job cancelled
  // or rescued meanwhile is missing).
  virtual StatusOr<std::vector<int64_t>> Heartbeat(const std::string& lease_token,
                                                   std::chrono::milliseconds lease) = 0;
  // Records the evaluation and marks the job done, in one transaction, if the lease still holds:
  // FailedPrecondition ("lost its lease") otherwise, and nothing is written. Returns the
  // evaluation's id (an existing one when the key was recorded meanwhile).
  virtual StatusOr<int64_t> CompleteJob(int64_t job_id, const std::string& lease_token,
                                        const EvaluationRecord& record) = 0;
  // Ends the attempt: back to pending after `retry_after`, or dead (permanent, or out of
  // attempts). FailedPrecondition when the lease was lost. Returns the job's new state.
  virtual StatusOr<JobState> FailJob(int64_t job_id, const std::string& lease_token,
                                     const JobFailure& failure) = 0;
  // Gives the claim's running jobs back untouched (a drain at shutdown): pending again, the
  // attempt not counted. Returns how many.
  virtual StatusOr<int> ReleaseClaim(const std::string& lease_token) = 0;
  // Gives one job of a claim back untouched (pending, the attempt not counted); false when the
  // claim no longer holds it.
  virtual StatusOr<bool> ReleaseJob(int64_t job_id, const std::string& lease_token) = 0;
  // Running jobs whose lease expired: pending again (dead when out of attempts), the attempt
  // counted and its error kept. Returns how many were rescued.
  virtual StatusOr<int> RescueExpiredLeases() = 0;

  // ---- Operators --------------------------------------------------------------------------
  virtual StatusOr<std::vector<JobInfo>> ListJobs(const JobFilter& filter) = 0;
  virtual StatusOr<JobCounts> CountJobs() = 0;
  // dead or cancelled -> pending with a fresh set of attempts (errors kept). Returns how many.
  virtual StatusOr<int> RetryJobs(const JobFilter& filter) = 0;
  // pending or running -> cancelled (a running evaluation stops at its next heartbeat).
  virtual StatusOr<int> CancelJobs(const JobFilter& filter) = 0;
};

// Both faces of one database connection: what the daemon's threads each hold.
class QueueStore : public Store, public JobQueue {};

// Wake-ups for idle workers and senders: PostgreSQL's NOTIFY on 'tw_jobs' (jobs queued,
// released, rescued or retried) and 'tw_outbox' (events to deliver). A hint only: both poll too.
class JobNotifications {
 public:
  virtual ~JobNotifications() = default;
  // Waits up to `timeout` for notifications; returns how many arrived (0 on timeout).
  // Unavailable when the connection broke (the caller reconnects with backoff).
  virtual StatusOr<int> Wait(std::chrono::milliseconds timeout) = 0;
};

}  // namespace tw
