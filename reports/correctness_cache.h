// Internal to reports/: per-sample top-1 correctness of evaluations, decoded from their stored
// predictions once each. Shared by the transfer checks and the paired compare.
#pragma once

#include <cstdint>
#include <map>
#include <vector>

#include "analysis/paired.h"
#include "common/status.h"
#include "scoring/records.h"
#include "store/store.h"

namespace tw::reports_internal {

// Per evaluation: which samples were right, and which were excluded from scoring (an image
// with no label under ReaL, a bad image skipped). Excluded samples are in no paired count.
class CorrectnessCache {
 public:
  explicit CorrectnessCache(Store& store) : store_(store) {}

  // The paired counts of two evaluations on one manifest, over the samples both scored.
  StatusOr<analysis::PairedCounts> Pair(int64_t old_evaluation_id, int64_t new_evaluation_id) {
    TW_ASSIGN_OR_RETURN(const Samples* old_samples, Get(old_evaluation_id));
    TW_ASSIGN_OR_RETURN(const Samples* new_samples, Get(new_evaluation_id));
    if (old_samples->correct.size() != new_samples->correct.size()) {
      // CountPairs names the mismatch.
      return analysis::CountPairs(old_samples->correct, new_samples->correct);
    }
    std::vector<bool> old_correct, new_correct;
    old_correct.reserve(old_samples->correct.size());
    new_correct.reserve(new_samples->correct.size());
    for (size_t i = 0; i < old_samples->correct.size(); ++i) {
      if (old_samples->excluded[i] || new_samples->excluded[i]) continue;
      old_correct.push_back(old_samples->correct[i]);
      new_correct.push_back(new_samples->correct[i]);
    }
    return analysis::CountPairs(old_correct, new_correct);
  }

 private:
  struct Samples {
    std::vector<bool> correct;
    std::vector<bool> excluded;
  };

  StatusOr<const Samples*> Get(int64_t evaluation_id) {
    auto it = cache_.find(evaluation_id);
    if (it != cache_.end()) return &it->second;
    TW_ASSIGN_OR_RETURN(StoredPredictions stored, store_.GetPredictions(evaluation_id));
    TW_ASSIGN_OR_RETURN(auto records, scoring::DecodeRecords(stored.data));
    Samples samples;
    samples.correct.reserve(records.size());
    samples.excluded.reserve(records.size());
    for (const auto& r : records) {
      samples.correct.push_back(r.correct && !r.excluded);
      samples.excluded.push_back(r.excluded);
    }
    return &cache_.emplace(evaluation_id, std::move(samples)).first->second;
  }

  Store& store_;
  std::map<int64_t, Samples> cache_;
};

}  // namespace tw::reports_internal
