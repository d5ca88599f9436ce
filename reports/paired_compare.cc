#include "reports/paired_compare.h"

#include <map>
#include <set>

#include "reports/correctness_cache.h"

namespace tw {

StatusOr<std::vector<DatasetPairing>> PairCheckpoints(Store& store, int64_t a_id, int64_t b_id,
                                                      const std::vector<std::string>& datasets) {
  std::set<std::string> wanted(datasets.begin(), datasets.end());
  TW_ASSIGN_OR_RETURN(auto a_list, store.PairableEvaluations(a_id));
  TW_ASSIGN_OR_RETURN(auto b_list, store.PairableEvaluations(b_id));
  std::map<std::string, PairableEvaluation> a, b;
  for (auto& e : a_list) {
    if (wanted.empty() || wanted.count(e.dataset)) a[e.dataset] = std::move(e);
  }
  for (auto& e : b_list) {
    if (wanted.empty() || wanted.count(e.dataset)) b[e.dataset] = std::move(e);
  }
  std::set<std::string> names;
  for (const auto& [name, e] : a) names.insert(name);
  for (const auto& [name, e] : b) names.insert(name);

  reports_internal::CorrectnessCache cache(store);
  std::vector<DatasetPairing> out;
  for (const auto& name : names) {
    DatasetPairing p;
    p.dataset = name;
    auto ai = a.find(name);
    auto bi = b.find(name);
    if (ai != a.end()) p.a_evaluation_id = ai->second.evaluation_id;
    if (bi != b.end()) p.b_evaluation_id = bi->second.evaluation_id;
    if (ai == a.end() || bi == b.end()) {
      p.note = std::string("no per-sample predictions for ") + (ai == a.end() ? "A" : "B");
    } else if (ai->second.manifest_sha256 != bi->second.manifest_sha256) {
      p.note = "evaluated on different manifests";
    } else if (ai->second.eval_config_sha256 != bi->second.eval_config_sha256) {
      p.note = "evaluated with different eval configs";
    } else {
      auto counts = cache.Pair(ai->second.evaluation_id, bi->second.evaluation_id);
      auto compared = counts.ok() ? analysis::ComparePaired(*counts)
                                  : StatusOr<analysis::PairedComparison>(counts.status());
      if (compared.ok()) {
        p.paired = true;
        p.comparison = *compared;
      } else {
        p.note = "predictions cannot be paired: " + compared.status().message();
      }
    }
    out.push_back(std::move(p));
  }
  return out;
}

}  // namespace tw
