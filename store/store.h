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

  // The pool for one variant: every (checkpoint, eval config) with a top-1 on both datasets;
  // when an evaluation was recorded more than once (several evaluator versions), the newest.
  virtual StatusOr<std::vector<PoolRow>> QueryPool(int64_t variant_dataset_id,
                                                   int64_t reference_dataset_id) = 0;

  virtual StatusOr<StoreCounts> Counts() = 0;
};

}  // namespace tw
