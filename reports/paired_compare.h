// Paired comparison of two checkpoints, dataset by dataset, from their per-sample predictions
// (`transferwatch compare`): on every dataset where both have an evaluator result with
// predictions on the same manifest and eval config, McNemar's exact test and Tango's score CI of
// B minus A (analysis/paired.h). Datasets that cannot be paired say why.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "analysis/paired.h"
#include "common/status.h"
#include "store/store.h"

namespace tw {

struct DatasetPairing {
  std::string dataset;
  bool paired = false;
  std::string note;                        // why not paired; empty when paired
  std::optional<int64_t> a_evaluation_id;  // the evaluations with predictions, where there is one
  std::optional<int64_t> b_evaluation_id;
  // When paired: old = A, new = B, so only_new_correct is "only B right" and the delta is B
  // minus A in percent points.
  analysis::PairedComparison comparison;
};

// One entry per dataset (by name) on which A or B has an evaluation with per-sample predictions
// (the newest per dataset), restricted to `datasets` unless it is empty. A dataset on which
// neither has predictions is absent. Errors are the store's or a stored predictions blob that
// cannot be decoded.
StatusOr<std::vector<DatasetPairing>> PairCheckpoints(Store& store, int64_t a_id, int64_t b_id,
                                                      const std::vector<std::string>& datasets);

}  // namespace tw
