// Pool-level statistics answering "does progress on the reference dataset transfer to this
// variant?" for one variant dataset. Pure computation: no I/O, no state.
#pragma once

#include <optional>
#include <string>
#include <vector>

#include "common/status.h"

namespace tw::analysis {

// One (model, eval config) evaluated on both the variant and its reference.
struct PoolEntry {
  std::string model;     // Display name of the checkpoint / imported model.
  int img_size = 0;      // 0 when unknown.
  double reference = 0;  // Accuracy on the reference dataset, in percent (0..100).
  double variant = 0;    // Accuracy on the variant dataset, in percent.
};

struct PoolReportOptions {
  double delta = 0.5;      // Minimum reference gap (percentage points) for a pair to count.
  std::optional<int> top;  // Keep only the `top` entries with the best reference accuracy.
};

struct Residual {
  std::string model;
  int img_size;
  double reference;
  double variant;
  double residual;  // Variant accuracy minus the effective-robustness fit, in points.
};

struct VariantStats {
  int n = 0;  // Pool size after `top`.
  std::optional<double> kendall_tau_b, spearman_rho;
  long long flips = 0, eligible_pairs = 0;
  std::optional<double> flip_rate;  // flips / eligible_pairs; nullopt when eligible_pairs == 0.
  std::optional<double> er_slope, er_intercept;
  std::vector<Residual> residuals;  // Same order as the (sorted, truncated) pool.
};

// Sorts the pool by reference accuracy descending (ties: model, then img_size, ascending), keeps
// the first options.top entries, then computes over that pool:
//  - eligible_pairs: ordered pairs (a, b), a != b, with ref_a - ref_b >= delta; flips: those
//    that also have var_a < var_b. Differences are compared with CompareDifference, so exact in
//    the data's decimals; with delta == 0 a reference tie counts in both orders.
//  - Kendall's tau-b and Spearman's rho between reference and variant accuracies.
//  - Effective robustness (Taori et al. 2020): least squares of logit(var) on logit(ref), both as
//    fractions clamped to [1e-6, 1 - 1e-6]; residual = 100 * (var/100 - sigmoid(fit(ref))). When
//    the fit is impossible (n < 2, all references equal) er_* are nullopt and residuals empty.
// InvalidArgumentError if delta is negative or not finite, top < 1, an accuracy is not finite
// or outside [0, 100], or two entries share (model, img_size).
StatusOr<VariantStats> ComputeVariantStats(std::vector<PoolEntry> entries,
                                           const PoolReportOptions& options);

}  // namespace tw::analysis
