// Internal to reports/: per-sample top-1 correctness of evaluations, decoded from their stored
// predictions once each. Shared by the transfer checks and the paired compare.
#pragma once

#include <cstdint>
#include <map>
#include <vector>

#include "common/status.h"
#include "scoring/records.h"
#include "store/store.h"

namespace tw::reports_internal {

// A sample counts as right when its record is correct and not excluded.
class CorrectnessCache {
 public:
  explicit CorrectnessCache(Store& store) : store_(store) {}
  StatusOr<const std::vector<bool>*> Get(int64_t evaluation_id) {
    auto it = cache_.find(evaluation_id);
    if (it != cache_.end()) return &it->second;
    TW_ASSIGN_OR_RETURN(StoredPredictions stored, store_.GetPredictions(evaluation_id));
    TW_ASSIGN_OR_RETURN(auto records, scoring::DecodeRecords(stored.data));
    std::vector<bool> correct;
    correct.reserve(records.size());
    for (const auto& r : records) correct.push_back(r.correct && !r.excluded);
    return &cache_.emplace(evaluation_id, std::move(correct)).first->second;
  }

 private:
  Store& store_;
  std::map<int64_t, std::vector<bool>> cache_;
};

}  // namespace tw::reports_internal
