// Store: the one interface through which programs read and write TransferWatch's records.
//
// The PostgreSQL implementation (pg_store.h) is the only one; tests run it against a real
// server. Implementations are not thread-safe: use one Store per thread.
#pragma once

#include <string>
#include <vector>

#include "common/status.h"
#include "store/model.h"

namespace tw {

class Store {
 public:
  virtual ~Store() = default;

  // Applies the whole batch in one transaction: nothing is written when anything fails.
  // Datasets, models and eval configs that exist are kept (a missing reference is filled in);
  // evaluations are added by evaluation key. Re-importing the same data changes nothing.
  // In kAddNew mode an evaluation already recorded with other numbers fails the import
  // (FailedPrecondition naming the row's location and both values).
  virtual StatusOr<ImportResult> ImportEvaluations(const ImportBatch& batch, ImportMode mode) = 0;

  virtual StatusOr<std::vector<DatasetInfo>> ListDatasets() = 0;
  // NotFound when no dataset has that name.
  virtual StatusOr<DatasetInfo> GetDataset(const std::string& name) = 0;

  virtual StatusOr<std::vector<CheckpointInfo>> ListCheckpoints(const CheckpointFilter& filter) = 0;
  // Every checkpoint the selector could mean (zero, one or several); resolution rules live in
  // checkpoint_name.h.
  virtual StatusOr<std::vector<CheckpointInfo>> FindCheckpoints(
      const CheckpointSelector& selector) = 0;

  // NotFound when a named dataset does not exist; InvalidArgument for a bad glob or metric.
  virtual StatusOr<std::vector<ResultRow>> QueryResults(const ResultQuery& query) = 0;

  // The pool for one variant: every (checkpoint, image size) with a top-1 on both datasets;
  // of several evaluations of one on a dataset (evaluator versions, configs), the newest.
  virtual StatusOr<std::vector<PoolRow>> QueryPool(int64_t variant_dataset_id,
                                                   int64_t reference_dataset_id) = 0;

  virtual StatusOr<StoreCounts> Counts() = 0;

  // ---- Datasets with files ----------------------------------------------------------------
  // Registers a manifest under a name, in one transaction: a new dataset, a new version of an
  // existing one, nothing new (same manifest), or files for a dataset known from an import.
  // NotFound when the reference is not registered.
  virtual StatusOr<RegistrationResult> RegisterDataset(const DatasetRegistration& registration) = 0;
  // The dataset's current version: the one registered last (which may be an older version's
  // content again). NotFound when the dataset does not exist or has no files yet.
  virtual StatusOr<DatasetVersionInfo> GetDatasetVersion(const std::string& name) = 0;
  virtual StatusOr<std::vector<DatasetVersionInfo>> ListDatasetVersions(
      const std::string& name) = 0;
  virtual StatusOr<std::string> GetManifest(const std::string& manifest_sha256) = 0;
  // Deletes a dataset and its versions. FailedPrecondition while evaluations or other datasets
  // refer to it: recorded results are never dropped as a side effect.
  virtual Status RemoveDataset(const std::string& name) = 0;

  // ---- Checkpoint files and evaluator results ----------------------------------------------
  // Idempotent on the hash: a copy or rename of a known checkpoint returns the existing row.
  virtual StatusOr<CheckpointInfo> RegisterCheckpointFile(
      const CheckpointFileRegistration& registration) = 0;
  // The checkpoint whose bytes were hashed at (host, path) with this size and mtime, if any (and
  // marks the file seen): lets a restarted daemon skip re-hashing files it already knows.
  virtual StatusOr<std::optional<int64_t>> FindCheckpointFile(const std::string& host,
                                                              const std::string& path,
                                                              int64_t size_bytes,
                                                              int64_t mtime_ns) = 0;
  // Sets (or with nullopt clears) the run's architecture file for its state-dict checkpoints.
  // NotFound when no run has that name.
  virtual Status SetRunArch(const std::string& run, const std::optional<std::string>& path,
                            const std::optional<std::string>& sha256) = 0;
  // The evaluation recorded under `evaluation_key`, if any.
  virtual StatusOr<std::optional<EvaluationSummary>> FindEvaluation(
      const std::string& evaluation_key) = 0;
  // Records the evaluation, its eval config and its predictions in one transaction. When the key
  // is recorded already the existing row wins (same key, same result) and its id is returned.
  virtual StatusOr<int64_t> RecordEvaluation(const EvaluationRecord& record) = 0;
  // NotFound when the evaluation has no stored predictions.
  virtual StatusOr<StoredPredictions> GetPredictions(int64_t evaluation_id) = 0;

  // ---- Transfer checks ------------------------------------------------------------------
  // What checkpoint `checkpoint_id` is compared with: its run's previous checkpoint (by step,
  // else registration), the run's best earlier checkpoint on `primary_dataset`, and pinned
  // baselines; one entry per checkpoint with every reason.
  virtual StatusOr<std::vector<ReferenceCheckpoint>> ReferenceCheckpoints(
      int64_t checkpoint_id, const std::string& primary_dataset) = 0;
  // The checkpoint's evaluator results that have per-sample predictions (newest per dataset).
  virtual StatusOr<std::vector<PairableEvaluation>> PairableEvaluations(int64_t checkpoint_id) = 0;
  // Inserts the rows (an existing (checkpoint, reference, variant) row is kept as it is) and the
  // events (one per dedup key), each event with a delivery for every webhook subscribed to its
  // type, in one transaction. Returns how many rows were new.
  virtual StatusOr<int> RecordTransferChecks(const std::vector<TransferCheckRow>& rows,
                                             const std::vector<OutboxEvent>& events) = 0;
  // Checkpoints whose transfer checks are owed, oldest mark first. CompleteJob marks the
  // checkpoint in the transaction that records its result; ClearChecksDue takes the mark away
  // once the checks ran. A daemon killed (or a database restarted) in between leaves the mark
  // for the planners' sweep, so no comparison, and no flag, is lost to a crash.
  virtual StatusOr<std::vector<ChecksDue>> ListChecksDue(const ChecksDueFilter& filter) = 0;
  // Removes the mark if it is still the one read (`due_micros`): a result recorded meanwhile
  // marks the checkpoint again, and its checks are owed again.
  virtual Status ClearChecksDue(int64_t checkpoint_id, int64_t due_micros) = 0;
  // Flags (checks whose verdict is not "none"), newest first.
  virtual StatusOr<std::vector<TransferCheckInfo>> ListFlags(const FlagFilter& filter) = 0;
  // NotFound for an unknown flag id.
  virtual Status AcknowledgeFlag(int64_t id, const std::string& who) = 0;
  virtual Status PinBaseline(int64_t checkpoint_id, const std::optional<std::string>& note) = 0;
  // NotFound when it was not pinned.
  virtual Status UnpinBaseline(int64_t checkpoint_id) = 0;
  virtual StatusOr<std::vector<ReferenceCheckpoint>> ListBaselines() = 0;

  // ---- Webhooks -------------------------------------------------------------------------
  virtual StatusOr<int64_t> AddWebhook(const NewWebhook& webhook) = 0;
  virtual StatusOr<std::vector<WebhookInfo>> ListWebhooks() = 0;
  // NotFound for an unknown id. Its deliveries go with it.
  virtual Status RemoveWebhook(int64_t id) = 0;
  // Claims up to claim.max_messages due messages under claim.lease_token (MessageClaim says
  // how events are grouped and rate-limited); each destination's claims are serialized, so the
  // rate limit holds across daemons.
  virtual StatusOr<std::vector<DueMessage>> ClaimDueMessages(const MessageClaim& claim) = 0;
  // Records an attempt's outcome for every event of the message if the lease still holds
  // (FailedPrecondition otherwise).
  virtual Status FinishMessage(const DueMessage& message, const std::string& lease_token,
                               const DeliveryUpdate& update) = 0;
  virtual StatusOr<std::vector<DeliveryInfo>> ListDeliveries(std::optional<int64_t> webhook_id,
                                                             std::optional<std::string> state,
                                                             int64_t limit) = 0;
  // Dead (or, by id, any) deliveries back to pending with a fresh schedule and no message: a
  // replay is a new message (a single event keeps its event id as webhook-id). Returns how many.
  virtual StatusOr<int> ReplayDeliveries(std::optional<int64_t> delivery_id,
                                         std::optional<int64_t> webhook_id) = 0;
};

}  // namespace tw
