// PgStore: the Store over PostgreSQL 13+ (libpqxx). One connection; not thread-safe.
#pragma once

#include <memory>
#include <string>
#include <vector>

#include "common/status.h"
#include "store/gc.h"
#include "store/job_queue.h"
#include "store/migrations.h"
#include "store/store.h"

namespace tw {

class PgStore : public QueueStore {
 public:
  // Connects (libpq conninfo or postgresql:// URL). Unavailable when the server cannot be
  // reached, FailedPrecondition when it is older than PostgreSQL 13.
  static StatusOr<std::unique_ptr<PgStore>> Connect(const std::string& conninfo);
  ~PgStore() override;

  // "PostgreSQL 15.18"
  StatusOr<std::string> ServerVersion();

  // What is applied, what is pending; FailedPrecondition for an edited or unknown applied
  // migration. Reads only.
  StatusOr<SchemaStatus> GetSchemaStatus(const std::vector<Migration>& known);

  // Applies the pending migrations in order, each in its own transaction, under an advisory
  // lock so that concurrent programs migrate once. Returns the ones applied (or, with dry_run,
  // the ones that would be).
  StatusOr<std::vector<Migration>> Migrate(const std::vector<Migration>& known, bool dry_run);

  // Retention (store/gc.h, pg_store_gc.cc): one transaction per category; with dry_run the same
  // figures and no change.
  StatusOr<GcReport> CollectGarbage(const GcOptions& options);

  StatusOr<ImportResult> ImportEvaluations(const ImportBatch& batch, ImportMode mode) override;
  StatusOr<std::vector<DatasetInfo>> ListDatasets() override;
  StatusOr<DatasetInfo> GetDataset(const std::string& name) override;
  StatusOr<std::vector<CheckpointInfo>> ListCheckpoints(const CheckpointFilter& filter) override;
  StatusOr<std::vector<CheckpointInfo>> FindCheckpoints(
      const CheckpointSelector& selector) override;
  StatusOr<std::vector<ResultRow>> QueryResults(const ResultQuery& query) override;
  StatusOr<std::vector<PoolRow>> QueryPool(int64_t variant_dataset_id,
                                           int64_t reference_dataset_id) override;
  StatusOr<StoreCounts> Counts() override;
  StatusOr<RegistrationResult> RegisterDataset(const DatasetRegistration& registration) override;
  StatusOr<DatasetVersionInfo> GetDatasetVersion(const std::string& name) override;
  StatusOr<std::vector<DatasetVersionInfo>> ListDatasetVersions(const std::string& name) override;
  StatusOr<std::string> GetManifest(const std::string& manifest_sha256) override;
  Status RemoveDataset(const std::string& name) override;
  StatusOr<CheckpointInfo> RegisterCheckpointFile(
      const CheckpointFileRegistration& registration) override;
  StatusOr<std::optional<int64_t>> FindCheckpointFile(const std::string& host,
                                                      const std::string& path, int64_t size_bytes,
                                                      int64_t mtime_ns) override;
  Status SetRunArch(const std::string& run, const std::optional<std::string>& path,
                    const std::optional<std::string>& sha256) override;
  StatusOr<std::optional<EvaluationSummary>> FindEvaluation(
      const std::string& evaluation_key) override;
  StatusOr<int64_t> RecordEvaluation(const EvaluationRecord& record) override;
  StatusOr<StoredPredictions> GetPredictions(int64_t evaluation_id) override;

  // JobQueue (pg_store_jobs.cc).
  StatusOr<std::vector<PlanCandidate>> UnplannedCheckpoints(int64_t dataset_version_id,
                                                            const std::string& eval_config_sha256,
                                                            int limit) override;
  StatusOr<EnqueueResult> EnqueueJobs(const std::vector<NewJob>& jobs) override;
  StatusOr<std::optional<Claim>> ClaimNext(const ClaimRequest& request,
                                           const std::string& host) override;
  StatusOr<std::vector<int64_t>> Heartbeat(const std::string& lease_token,
                                           std::chrono::milliseconds lease) override;
  StatusOr<int64_t> CompleteJob(int64_t job_id, const std::string& lease_token,
                                const EvaluationRecord& record) override;
  StatusOr<JobState> FailJob(int64_t job_id, const std::string& lease_token,
                             const JobFailure& failure) override;
  StatusOr<int> ReleaseClaim(const std::string& lease_token) override;
  StatusOr<bool> ReleaseJob(int64_t job_id, const std::string& lease_token) override;
  StatusOr<int> RescueExpiredLeases() override;
  StatusOr<std::vector<JobInfo>> ListJobs(const JobFilter& filter) override;
  StatusOr<JobCounts> CountJobs() override;
  StatusOr<int> RetryJobs(const JobFilter& filter) override;
  StatusOr<int> CancelJobs(const JobFilter& filter) override;

  StatusOr<std::vector<ReferenceCheckpoint>> ReferenceCheckpoints(
      int64_t checkpoint_id, const std::string& primary_dataset) override;
  StatusOr<std::vector<PairableEvaluation>> PairableEvaluations(int64_t checkpoint_id) override;
  StatusOr<std::vector<ChecksDue>> ListChecksDue(const ChecksDueFilter& filter) override;
  Status ClearChecksDue(int64_t checkpoint_id, int64_t due_micros) override;
  StatusOr<int> RecordTransferChecks(const std::vector<TransferCheckRow>& rows,
                                     const std::vector<OutboxEvent>& events) override;
  StatusOr<std::vector<TransferCheckInfo>> ListFlags(const FlagFilter& filter) override;
  Status AcknowledgeFlag(int64_t id, const std::string& who) override;
  Status PinBaseline(int64_t checkpoint_id, const std::optional<std::string>& note) override;
  Status UnpinBaseline(int64_t checkpoint_id) override;
  StatusOr<std::vector<ReferenceCheckpoint>> ListBaselines() override;

  StatusOr<int64_t> AddWebhook(const NewWebhook& webhook) override;
  StatusOr<std::vector<WebhookInfo>> ListWebhooks() override;
  Status RemoveWebhook(int64_t id) override;
  StatusOr<std::vector<DueMessage>> ClaimDueMessages(const MessageClaim& claim) override;
  Status FinishMessage(const DueMessage& message, const std::string& lease_token,
                       const DeliveryUpdate& update) override;
  StatusOr<std::vector<DeliveryInfo>> ListDeliveries(std::optional<int64_t> webhook_id,
                                                     std::optional<std::string> state,
                                                     int64_t limit) override;
  StatusOr<int> ReplayDeliveries(std::optional<int64_t> delivery_id,
                                 std::optional<int64_t> webhook_id) override;

 private:
  StatusOr<std::optional<Claim>> ClaimOnce(const ClaimRequest& request, const std::string& host);
  // Ids of the named datasets, in order; NotFound naming the first unknown one.
  StatusOr<std::vector<int64_t>> DatasetIds(const std::vector<std::string>& names);

  struct Impl;
  explicit PgStore(std::unique_ptr<Impl> impl);
  std::unique_ptr<Impl> impl_;
};

// Hides the password in a conninfo string or URL, for messages and logs.
std::string RedactConninfo(const std::string& conninfo);

}  // namespace tw
