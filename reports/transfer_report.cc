#include "reports/transfer_report.h"

#include <map>
#include <set>

#include "common/glob.h"

namespace tw {

StatusOr<TransferReport> BuildTransferReport(Store& store, const TransferReportOptions& options) {
  TW_ASSIGN_OR_RETURN(auto datasets, store.ListDatasets());
  std::map<std::string, const DatasetInfo*> by_name;
  for (const auto& d : datasets) by_name[d.name] = &d;
  if (options.reference && !by_name.count(*options.reference)) {
    return NotFoundError("reference dataset '" + *options.reference + "' is not registered");
  }
  std::set<std::string> wanted(options.datasets.begin(), options.datasets.end());
  for (const auto& name : wanted) {
    if (!by_name.count(name)) return NotFoundError("dataset '" + name + "' is not registered");
    if (!options.reference && !by_name[name]->reference) {
      return InvalidArgumentError("dataset '" + name +
                                  "' has no reference dataset; name one with --reference");
    }
  }

  if (options.run_glob) {
    TW_RETURN_IF_ERROR(ValidateGlob(*options.run_glob));
    CheckpointFilter filter;
    filter.origin = "file";
    filter.run_glob = options.run_glob;
    filter.limit = 1;
    TW_ASSIGN_OR_RETURN(auto matching, store.ListCheckpoints(filter));
    if (matching.empty()) {
      return NotFoundError("--run '" + *options.run_glob + "' matches no run with checkpoints");
    }
  }
  // Whether a pool row belongs to the pool asked for.
  auto in_pool = [&](const PoolRow& row) {
    if (options.exclude_imported && row.origin == "import") return false;
    if (options.run_glob) {
      return row.origin == "file" && row.run && GlobMatch(*options.run_glob, *row.run);
    }
    return true;
  };
  size_t pool_entries = 0;

  TransferReport report;
  report.delta = options.delta;
  report.top = options.top;
  report.run_glob = options.run_glob;
  report.exclude_imported = options.exclude_imported;
  analysis::PoolReportOptions pool_options;
  pool_options.delta = options.delta;
  pool_options.top = options.top;
  for (const auto& d : datasets) {
    if (!wanted.empty() && !wanted.count(d.name)) continue;
    // With --reference every dataset named (or, without --dataset, every one that has a
    // registered reference) is compared with it.
    if (!options.reference && !d.reference) continue;
    if (options.reference && wanted.empty() && !d.reference) continue;
    const std::string reference = options.reference ? *options.reference : *d.reference;
    if (reference == d.name) {
      if (wanted.count(d.name)) {
        return InvalidArgumentError("dataset '" + d.name + "' cannot be compared with itself");
      }
      continue;
    }
    const DatasetInfo* ref = by_name.at(reference);
    TW_ASSIGN_OR_RETURN(auto rows, store.QueryPool(d.id, ref->id));
    std::vector<analysis::PoolEntry> entries;
    entries.reserve(rows.size());
    for (const auto& row : rows) {
      if (!in_pool(row)) continue;
      entries.push_back(analysis::PoolEntry{row.checkpoint, row.img_size.value_or(0), row.reference,
                                            row.variant});
    }
    pool_entries += entries.size();
    auto stats = analysis::ComputeVariantStats(std::move(entries), pool_options);
    if (!stats.ok()) return stats.status().WithContext(d.name + " against " + reference);
    report.variants.push_back(VariantReport{d.name, reference, std::move(*stats)});
  }
  if (options.run_glob && pool_entries == 0) {
    return NotFoundError("no checkpoint of a run matching --run '" + *options.run_glob +
                         "' has results on both a variant dataset and its reference");
  }
  return report;
}

namespace {
nlohmann::ordered_json OrNull(const std::optional<double>& value) {
  return value ? nlohmann::ordered_json(*value) : nlohmann::ordered_json(nullptr);
}
}  // namespace

nlohmann::ordered_json TransferReportToJson(const TransferReport& report) {
  nlohmann::ordered_json variants = nlohmann::ordered_json::array();
  for (const auto& v : report.variants) {
    nlohmann::ordered_json residuals = nlohmann::ordered_json::array();
    for (const auto& r : v.stats.residuals) {
      residuals.push_back({{"model", r.model},
                           {"img_size", r.img_size ? nlohmann::ordered_json(r.img_size)
                                                   : nlohmann::ordered_json(nullptr)},
                           {"reference_top1", r.reference},
                           {"variant_top1", r.variant},
                           {"residual", r.residual}});
    }
    variants.push_back({{"dataset", v.dataset},
                        {"reference", v.reference},
                        {"n", v.stats.n},
                        {"kendall_tau_b", OrNull(v.stats.kendall_tau_b)},
                        {"spearman_rho", OrNull(v.stats.spearman_rho)},
                        {"flips", v.stats.flips},
                        {"eligible_pairs", v.stats.eligible_pairs},
                        {"flip_rate", OrNull(v.stats.flip_rate)},
                        {"er_slope", OrNull(v.stats.er_slope)},
                        {"er_intercept", OrNull(v.stats.er_intercept)},
                        {"delta", report.delta},
                        {"top", report.top ? nlohmann::ordered_json(*report.top)
                                           : nlohmann::ordered_json(nullptr)},
                        {"residuals", std::move(residuals)}});
  }
  return nlohmann::ordered_json{{"variants", std::move(variants)}};
}

}  // namespace tw
