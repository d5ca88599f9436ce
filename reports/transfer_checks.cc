#include "reports/transfer_checks.h"

#include <algorithm>
#include <map>
#include <nlohmann/json.hpp>

#include "analysis/paired.h"
#include "common/message_id.h"
#include "common/time_util.h"
#include "reports/correctness_cache.h"
#include "scoring/records.h"

namespace tw {
namespace {

using Json = nlohmann::json;
using reports_internal::CorrectnessCache;

PairedNumbers Numbers(const analysis::PairedComparison& c) {
  PairedNumbers n;
  n.n = static_cast<int>(c.counts.n);
  n.only_new = static_cast<int>(c.counts.only_new_correct);
  n.only_old = static_cast<int>(c.counts.only_old_correct);
  n.delta = c.ci.delta;
  n.ci_low = c.ci.lower;
  n.ci_high = c.ci.upper;
  n.p = c.test.p_exact;
  n.p_mid = c.test.p_mid;
  return n;
}

}  // namespace

StatusOr<TransferCheckSummary> RunTransferChecks(Store& store, const CheckedCheckpoint& checkpoint,
                                                 const TransferCheckOptions& options) {
  const int64_t checkpoint_id = checkpoint.id;
  TransferCheckSummary summary;
  TW_ASSIGN_OR_RETURN(auto mine_list, store.PairableEvaluations(checkpoint_id));
  std::map<int64_t, PairableEvaluation> mine;
  for (auto& e : mine_list) mine[e.dataset_id] = e;
  TW_ASSIGN_OR_RETURN(auto refs,
                      store.ReferenceCheckpoints(checkpoint_id, options.primary_dataset));
  CorrectnessCache cache(store);
  std::vector<TransferCheckRow> rows;
  std::vector<OutboxEvent> events;

  for (const ReferenceCheckpoint& ref : refs) {
    TW_ASSIGN_OR_RETURN(auto theirs_list, store.PairableEvaluations(ref.checkpoint_id));
    std::map<int64_t, PairableEvaluation> theirs;
    for (auto& e : theirs_list) theirs[e.dataset_id] = e;
    // The paired comparison of one dataset, or why there is none.
    std::map<int64_t, analysis::PairedComparison> compared;
    auto compare = [&](int64_t dataset_id) -> StatusOr<bool> {
      if (compared.count(dataset_id)) return true;
      auto m = mine.find(dataset_id);
      auto t = theirs.find(dataset_id);
      if (m == mine.end()) return false;
      if (t == theirs.end()) {
        // Never evaluated there, or its predictions were pruned (`transferwatch gc`): its
        // aggregate result stays, but there is nothing to pair with.
        std::string note = m->second.dataset + " vs " + ref.display_name +
                           ": no per-sample predictions for the reference, not paired";
        if (std::find(summary.not_paired.begin(), summary.not_paired.end(), note) ==
            summary.not_paired.end()) {
          summary.not_paired.push_back(std::move(note));
        }
        return false;
      }
      if (m->second.manifest_sha256 != t->second.manifest_sha256) {
        summary.not_paired.push_back(m->second.dataset + " vs " + ref.display_name +
                                     ": evaluated on different manifests, not paired");
        return false;
      }
      if (m->second.eval_config_sha256 != t->second.eval_config_sha256) {
        summary.not_paired.push_back(m->second.dataset + " vs " + ref.display_name +
                                     ": evaluated with different eval configs, not paired");
        return false;
      }
      TW_ASSIGN_OR_RETURN(analysis::PairedCounts counts,
                          cache.Pair(t->second.evaluation_id, m->second.evaluation_id));
      TW_ASSIGN_OR_RETURN(compared[dataset_id], analysis::ComparePaired(counts));
      return true;
    };
    // The variants both checkpoints have, with their reference dataset compared as well.
    std::vector<const PairableEvaluation*> variants;
    for (const auto& [dataset_id, e] : mine) {
      if (!e.reference_dataset_id) continue;
      TW_ASSIGN_OR_RETURN(bool variant_ok, compare(dataset_id));
      if (!variant_ok) continue;
      TW_ASSIGN_OR_RETURN(bool reference_ok, compare(*e.reference_dataset_id));
      if (!reference_ok) continue;
      variants.push_back(&e);
    }
    if (variants.empty()) continue;
    ++summary.references;
    // Holm over every variant of this comparison.
    std::vector<double> p_values;
    for (const auto* v : variants) p_values.push_back(compared.at(v->dataset_id).test.p_exact);
    std::vector<double> holm = analysis::HolmAdjust(p_values);
    Json regressed = Json::array(), not_transferred = Json::array();
    const PairableEvaluation* any_reference = nullptr;
    for (size_t i = 0; i < variants.size(); ++i) {
      const PairableEvaluation& v = *variants[i];
      const auto& variant = compared.at(v.dataset_id);
      const auto& reference = compared.at(*v.reference_dataset_id);
      bool gain = reference.test.p_exact < options.alpha && reference.ci.delta > 0 &&
                  reference.ci.delta >= options.min_gain;
      bool significantly_worse = holm[i] < options.alpha && variant.ci.delta < 0;
      bool significantly_better = holm[i] < options.alpha && variant.ci.delta > 0;
      std::string verdict = "none";
      if (gain && significantly_worse) {
        verdict = "regression";
      } else if (gain && !significantly_better) {
        verdict = "no-transfer";
      }
      TransferCheckRow row;
      row.checkpoint_id = checkpoint_id;
      row.reference_checkpoint_id = ref.checkpoint_id;
      row.reference_kinds = ref.kinds;
      row.variant_dataset_id = v.dataset_id;
      row.reference_dataset_id = *v.reference_dataset_id;
      row.variant_evaluation_id = v.evaluation_id;
      row.variant_reference_evaluation_id = theirs.at(v.dataset_id).evaluation_id;
      row.verdict = verdict;
      row.alpha = options.alpha;
      row.min_gain = options.min_gain;
      row.reference = Numbers(reference);
      row.variant = Numbers(variant);
      row.variant_p_holm = holm[i];
      row.holm_family_size = static_cast<int>(variants.size());
      rows.push_back(row);
      ++summary.rows;
      const PairableEvaluation& ref_eval = mine.at(*v.reference_dataset_id);
      any_reference = &ref_eval;
      Json item = {{"dataset", v.dataset},
                   {"reference_dataset", ref_eval.dataset},
                   {"delta_points", variant.ci.delta},
                   {"ci_low", variant.ci.lower},
                   {"ci_high", variant.ci.upper},
                   {"p_value", variant.test.p_exact},
                   {"p_holm", holm[i]},
                   {"n", variant.counts.n},
                   {"discordant", variant.counts.discordant()},
                   {"reference_gain_points", reference.ci.delta},
                   {"reference_ci_low", reference.ci.lower},
                   {"reference_ci_high", reference.ci.upper},
                   {"reference_p", reference.test.p_exact},
                   {"reference_n", reference.counts.n}};
      if (verdict == "regression") {
        regressed.push_back(item);
        ++summary.regressions;
      } else if (verdict == "no-transfer") {
        not_transferred.push_back(item);
        ++summary.no_transfers;
      }
    }
    // One event per (checkpoint, reference checkpoint, kind): the flags of one comparison are
    // one message. The payload carries what a renderer needs (notify/event.h).
    for (const auto& [type, items] :
         {std::pair<std::string, Json*>{"regression", &regressed},
          std::pair<std::string, Json*>{"no-transfer", &not_transferred}}) {
      if (items->empty() || any_reference == nullptr) continue;
      const Json& first = (*items)[0];
      Json payload = {
          {"event_type", type},
          {"checkpoint_id", checkpoint_id},
          {"checkpoint", checkpoint.display_name},
          {"run", checkpoint.display_name.substr(0, checkpoint.display_name.find('/'))},
          {"step", checkpoint.step ? Json(*checkpoint.step) : Json(nullptr)},
          {"checkpoint_sha256", checkpoint.sha256},
          {"cli_hint", "transferwatch compare " + ref.display_name + " " + checkpoint.display_name},
          {"reference_checkpoint", ref.display_name},
          {"reference_kinds", ref.kinds},
          {"reference_dataset", first["reference_dataset"]},
          {"reference_gain_points", first["reference_gain_points"]},
          {"reference_ci_low", first["reference_ci_low"]},
          {"reference_ci_high", first["reference_ci_high"]},
          {"reference_p", first["reference_p"]},
          {"reference_n", first["reference_n"]},
          {"variants", *items},
          {"alpha", options.alpha},
          {"min_gain", options.min_gain},
          {"created_at", FormatIso8601Utc(std::chrono::system_clock::now())}};
      OutboxEvent event;
      event.event_id = NewMessageId();
      event.event_type = type;
      event.dedup_key =
          type + ":" + std::to_string(checkpoint_id) + ":" + std::to_string(ref.checkpoint_id);
      event.payload_json = payload.dump(-1, ' ', false, Json::error_handler_t::replace);
      events.push_back(std::move(event));
    }
  }
  if (!rows.empty() || !events.empty()) {
    TW_ASSIGN_OR_RETURN(summary.new_rows, store.RecordTransferChecks(rows, events));
  }
  return summary;
}

StatusOr<std::vector<CheckedCheckpoint>> DependentCheckpoints(Store& store, int64_t checkpoint_id,
                                                              const std::string& run,
                                                              const TransferCheckOptions& options,
                                                              int limit) {
  std::vector<CheckedCheckpoint> out;
  CheckpointFilter filter;
  filter.origin = "file";
  filter.run = run;
  TW_ASSIGN_OR_RETURN(std::vector<CheckpointInfo> all, store.ListCheckpoints(filter));
  auto self = std::find_if(all.begin(), all.end(),
                           [&](const CheckpointInfo& c) { return c.id == checkpoint_id; });
  if (self == all.end()) {
    return NotFoundError("no checkpoint with id " + std::to_string(checkpoint_id) + " in run '" +
                         run + "'");
  }
  const CheckpointInfo checkpoint = *self;
  // A run's order as ReferenceCheckpoints sees it: by step when both have one, else by
  // registration.
  auto before = [](const CheckpointInfo& a, const CheckpointInfo& b) {
    if (a.step && b.step && *a.step != *b.step) return *a.step < *b.step;
    if (a.created_at != b.created_at) return a.created_at < b.created_at;
    return a.id < b.id;
  };
  std::vector<CheckpointInfo> successors;
  for (const CheckpointInfo& c : all) {
    if (c.evaluations > 0 && before(checkpoint, c)) successors.push_back(c);
  }
  std::sort(successors.begin(), successors.end(), before);
  if (successors.size() > static_cast<size_t>(limit)) successors.resize(limit);
  for (const CheckpointInfo& s : successors) {
    TW_ASSIGN_OR_RETURN(std::vector<ReferenceCheckpoint> references,
                        store.ReferenceCheckpoints(s.id, options.primary_dataset));
    for (const ReferenceCheckpoint& r : references) {
      if (r.checkpoint_id == checkpoint.id) {
        out.push_back(CheckedCheckpoint{s.id, s.display_name, s.sha256.value_or(""), s.step});
        break;
      }
    }
  }
  return out;
}

}  // namespace tw
