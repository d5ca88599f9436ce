// Transfer checks: a checkpoint compared, with per-sample predictions, with its reference
// checkpoints (the run's previous one, the run's best so far on the primary dataset, pinned
// baselines) on every variant dataset both have, each variant judged against its own reference
// dataset (ImageNet-A against imagenet-a-clean, Sketch against imagenet) with McNemar's exact
// test, a score CI and Holm's correction over the comparison's variants (analysis/paired.h).
// Flags and their outbox events are recorded in one transaction; recomputing is idempotent.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "common/status.h"
#include "store/store.h"

namespace tw {

struct TransferCheckOptions {
  std::string primary_dataset = "imagenet";  // what "the run's best" is measured on
  double alpha = 0.05;
  double min_gain = 0.1;  // percent points on the reference dataset
};

struct TransferCheckSummary {
  int references = 0;  // reference checkpoints compared with
  int rows = 0;        // (reference checkpoint, variant) pairs judged
  int new_rows = 0;    // of which recorded now (the others were already)
  int regressions = 0;
  int no_transfers = 0;
  std::vector<std::string> not_paired;  // why a dataset could not be paired, for the log
};

// The checkpoint checked, as events name it.
struct CheckedCheckpoint {
  int64_t id = 0;
  std::string display_name;  // RUN/FILE
  std::string sha256;
  std::optional<int64_t> step;
};

StatusOr<TransferCheckSummary> RunTransferChecks(Store& store, const CheckedCheckpoint& checkpoint,
                                                 const TransferCheckOptions& options);

// The checkpoints whose checks may have run before checkpoint `checkpoint_id`'s results existed:
// the later checkpoints of its run `run` (by step, else registration) that take it as a
// reference (the next one's "previous", a later one's "best so far"). Only the `limit` nearest
// later checkpoints with results are looked at (each costs a query, and the daemon asks after
// every evaluation): a reference evaluated late is re-checked against its nearest successors.
// Re-running their checks after `checkpoint`'s evaluation commits records the comparisons
// that were missing; the ones already recorded are kept (RunTransferChecks is idempotent).
StatusOr<std::vector<CheckedCheckpoint>> DependentCheckpoints(Store& store, int64_t checkpoint_id,
                                                              const std::string& run,
                                                              const TransferCheckOptions& options,
                                                              int limit = 4);

}  // namespace tw
