#include "analysis/pool_report.h"

#include <algorithm>
#include <charconv>
#include <cmath>
#include <set>
#include <string_view>
#include <utility>

#include "analysis/rank_stats.h"

namespace tw::analysis {
namespace {

// Keeps logits finite for accuracies of exactly 0 or 100 %, as in Taori et al.
constexpr double kProbabilityEps = 1e-6;

// Shortest text that reads back as `value` ("80.123", not "80.123000"), so errors quote the
// input as the user wrote it.
std::string FormatDouble(double value) {
  char buffer[64];
  const auto result = std::to_chars(buffer, buffer + sizeof(buffer), value);
  return std::string(buffer, result.ptr);
}

std::string Describe(const PoolEntry& entry) {
  return "model '" + entry.model + "' (img_size " + std::to_string(entry.img_size) + ")";
}

Status ValidateAccuracy(const PoolEntry& entry, std::string_view which, double value) {
  if (std::isfinite(value) && value >= 0 && value <= 100) return OkStatus();
  return InvalidArgumentError(Describe(entry) + ": " + std::string(which) + " accuracy " +
                              FormatDouble(value) + " is not a percentage in [0, 100]");
}

Status Validate(const std::vector<PoolEntry>& entries, const PoolReportOptions& options) {
  if (!std::isfinite(options.delta) || options.delta < 0) {
    return InvalidArgumentError("delta must be finite and >= 0, got " +
                                FormatDouble(options.delta));
  }
  if (options.top.has_value() && *options.top < 1) {
    return InvalidArgumentError("top must be >= 1, got " + std::to_string(*options.top));
  }
  std::set<std::pair<std::string_view, int>> seen;
  for (const PoolEntry& entry : entries) {
    TW_RETURN_IF_ERROR(ValidateAccuracy(entry, "reference", entry.reference));
    TW_RETURN_IF_ERROR(ValidateAccuracy(entry, "variant", entry.variant));
    if (!seen.emplace(entry.model, entry.img_size).second) {
      return InvalidArgumentError("duplicate pool entry for " + Describe(entry));
    }
  }
  return OkStatus();
}

// Counts ordered pairs; O(n^2), which is a few million cheap comparisons at the pool sizes we
// see (n <= ~2000). The accuracies are copied into flat arrays so the inner loop touches no
// strings.
void CountFlips(const std::vector<double>& ref, const std::vector<double>& var, double delta,
                VariantStats& stats) {
  const size_t n = ref.size();
  long long flips = 0, eligible = 0;
  for (size_t a = 0; a < n; ++a) {
    for (size_t b = 0; b < n; ++b) {
      if (a == b || CompareDifference(ref[a], ref[b], delta) < 0) continue;
      ++eligible;
      if (CompareDifference(var[a], var[b], 0) < 0) ++flips;
    }
  }
  stats.flips = flips;
  stats.eligible_pairs = eligible;
  if (eligible > 0) stats.flip_rate = static_cast<double>(flips) / static_cast<double>(eligible);
}

double LogitOfPercent(double percent) {
  return Logit(ClampProbability(percent / 100, kProbabilityEps));
}

void FitEffectiveRobustness(const std::vector<PoolEntry>& pool, const std::vector<double>& ref,
                            const std::vector<double>& var, VariantStats& stats) {
  std::vector<double> logit_ref(ref.size()), logit_var(var.size());
  std::transform(ref.begin(), ref.end(), logit_ref.begin(), LogitOfPercent);
  std::transform(var.begin(), var.end(), logit_var.begin(), LogitOfPercent);
  const std::optional<LinearFit> fit = LeastSquares(logit_ref, logit_var);
  if (!fit.has_value()) return;
  stats.er_slope = fit->slope;
  stats.er_intercept = fit->intercept;
  stats.residuals.reserve(pool.size());
  for (size_t i = 0; i < pool.size(); ++i) {
    const double predicted = Sigmoid(fit->slope * logit_ref[i] + fit->intercept);
    // Measured against the unclamped accuracy: clamping only protects the logit.
    stats.residuals.push_back({pool[i].model, pool[i].img_size, pool[i].reference, pool[i].variant,
                               100 * (pool[i].variant / 100 - predicted)});
  }
}

}  // namespace

StatusOr<VariantStats> ComputeVariantStats(std::vector<PoolEntry> entries,
                                           const PoolReportOptions& options) {
  TW_RETURN_IF_ERROR(Validate(entries, options));
  // Duplicates are rejected, so this order is total and the result deterministic.
  std::sort(entries.begin(), entries.end(), [](const PoolEntry& a, const PoolEntry& b) {
    if (a.reference != b.reference) return a.reference > b.reference;
    if (a.model != b.model) return a.model < b.model;
    return a.img_size < b.img_size;
  });
  if (options.top.has_value() && entries.size() > static_cast<size_t>(*options.top)) {
    entries.resize(static_cast<size_t>(*options.top));
  }

  VariantStats stats;
  stats.n = static_cast<int>(entries.size());
  std::vector<double> ref(entries.size()), var(entries.size());
  for (size_t i = 0; i < entries.size(); ++i) {
    ref[i] = entries[i].reference;
    var[i] = entries[i].variant;
  }
  CountFlips(ref, var, options.delta, stats);
  stats.kendall_tau_b = KendallTauB(ref, var);
  stats.spearman_rho = SpearmanRho(ref, var);
  FitEffectiveRobustness(entries, ref, var, stats);
  return stats;
}

}  // namespace tw::analysis
