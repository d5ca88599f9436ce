// The pool-level transfer report over everything in the store: for each variant dataset, how
// well ranking on its reference predicts ranking on it (rank correlations, rank flips,
// effective robustness). Shared by the CLI (`transferwatch report`) and the daemon's API.
#pragma once

#include <nlohmann/json.hpp>
#include <optional>
#include <string>
#include <vector>

#include "analysis/pool_report.h"
#include "common/status.h"
#include "store/store.h"

namespace tw {

struct TransferReportOptions {
  std::optional<std::string> reference;  // override every variant's registered reference
  std::vector<std::string> datasets;     // only these variants; empty = every dataset with one
  double delta = 0.5;                    // minimum reference gap of a pair, in points
  std::optional<int> top;                // keep the N entries best on the reference
  // The pool: everything by default; with run_glob only file checkpoints of matching runs
  // (imported models have no run); exclude_imported drops imported models.
  std::optional<std::string> run_glob;
  bool exclude_imported = false;
};

struct VariantReport {
  std::string dataset;
  std::string reference;
  analysis::VariantStats stats;
};

struct TransferReport {
  double delta = 0.5;
  std::optional<int> top;
  std::optional<std::string> run_glob;
  bool exclude_imported = false;
  std::vector<VariantReport> variants;  // by dataset name
};

// NotFound for an unknown --reference or --dataset name, or when run_glob matches no file
// checkpoint (or none of them is in any variant's pool); InvalidArgument when a named dataset
// has no reference (and none is given) or for bad options (a malformed glob).
StatusOr<TransferReport> BuildTransferReport(Store& store, const TransferReportOptions& options);

// {"variants": [{"dataset", "reference", "n", "kendall_tau_b", "spearman_rho", "flips",
//   "eligible_pairs", "flip_rate", "er_slope", "er_intercept", "delta", "top",
//   "residuals": [{"model", "img_size", "reference_top1", "variant_top1", "residual"}]}]}
// Values that cannot be computed are null.
nlohmann::ordered_json TransferReportToJson(const TransferReport& report);

}  // namespace tw
