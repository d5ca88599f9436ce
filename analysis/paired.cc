#include "analysis/paired.h"

#include <algorithm>
#include <boost/math/distributions/binomial.hpp>
#include <boost/math/distributions/normal.hpp>
#include <cmath>
#include <limits>
#include <numeric>

namespace tw::analysis {
namespace {

constexpr double kInf = std::numeric_limits<double>::infinity();

// Two-sided McNemar p-value from the normal approximation with continuity correction; used only
// if Boost.Math reports an error for the exact tail (it should not for any int64 counts).
double NormalApproxTwoSided(double b, double c) {
  const double s = b + c;
  if (s <= 0) return 1.0;
  const double z = std::max(0.0, std::fabs(b - c) - 1.0) / std::sqrt(s);
  return std::min(1.0, std::erfc(z / std::sqrt(2.0)));
}

// Tango's score statistic for H0: p12 - p21 = delta, where p12 is the probability of "only new
// correct" (count b) and p21 of "only old correct" (count c):
//   T(delta) = (b - c - n delta) / sqrt(n (2 q + delta (1 - delta)))
// with q the maximum-likelihood estimate of p21 restricted to p12 - p21 = delta, the admissible
// root of 2n q^2 + B q + C = 0, B = -(b + c) + (2n - b + c) delta, C = -c delta (1 - delta).
// Returns +-inf where the restricted variance is 0 and the numerator is not.
double TangoStatistic(double b, double c, double n, double delta) {
  const double numerator = b - c - n * delta;
  const double A = 2.0 * n;
  const double B = -(b + c) + (2.0 * n - b + c) * delta;
  const double C = -c * delta * (1.0 - delta);
  const double disc = std::max(0.0, B * B - 4.0 * A * C);
  const double root = std::sqrt(disc);
  double q;
  if (B <= 0) {
    q = (root - B) / (2.0 * A);
  } else {
    // Same root, written without cancellation: (-B + root) / 2A == 2C / (-B - root).
    q = (B + root) > 0 ? -2.0 * C / (B + root) : 0.0;
  }
  // Clamp to the admissible range p21 in [max(0, -delta), (1 - delta) / 2].
  q = std::clamp(q, std::max(0.0, -delta), std::max(std::max(0.0, -delta), (1.0 - delta) / 2.0));
  const double variance = n * (2.0 * q + delta * (1.0 - delta));
  if (!(variance > 0)) {
    if (numerator == 0) return 0.0;
    return numerator > 0 ? kInf : -kInf;
  }
  return numerator / std::sqrt(variance);
}

// Bisection for the crossing of f(delta) = T(delta) - target on [lo, hi], where f(lo) and f(hi)
// have opposite signs (T decreases in delta).
double Bisect(double b, double c, double n, double target, double lo, double hi) {
  for (int i = 0; i < 200 && hi - lo > 1e-14; ++i) {
    const double mid = 0.5 * (lo + hi);
    if (TangoStatistic(b, c, n, mid) > target) {
      lo = mid;
    } else {
      hi = mid;
    }
  }
  return 0.5 * (lo + hi);
}

Status ValidateCounts(const PairedCounts& counts) {
  if (counts.n <= 0) return InvalidArgumentError("paired counts: n must be positive");
  if (counts.both_correct < 0 || counts.only_new_correct < 0 || counts.only_old_correct < 0 ||
      counts.both_wrong < 0) {
    return InvalidArgumentError("paired counts: a cell is negative");
  }
  // Overflow-safe: each cell is non-negative and <= n after this loop, or we stop.
  int64_t sum = 0;
  for (int64_t cell :
       {counts.both_correct, counts.only_new_correct, counts.only_old_correct, counts.both_wrong}) {
    if (cell > counts.n - sum) return InvalidArgumentError("paired counts: cells exceed n");
    sum += cell;
  }
  if (sum != counts.n) return InvalidArgumentError("paired counts: cells do not sum to n");
  return OkStatus();
}

}  // namespace

StatusOr<PairedCounts> CountPairs(const std::vector<bool>& old_correct,
                                  const std::vector<bool>& new_correct) {
  if (old_correct.size() != new_correct.size()) {
    return InvalidArgumentError("CountPairs: old has " + std::to_string(old_correct.size()) +
                                " samples, new has " + std::to_string(new_correct.size()));
  }
  if (old_correct.empty()) return InvalidArgumentError("CountPairs: no samples");
  PairedCounts counts;
  counts.n = static_cast<int64_t>(old_correct.size());
  for (size_t i = 0; i < old_correct.size(); ++i) {
    const bool o = old_correct[i], w = new_correct[i];
    if (o && w) {
      ++counts.both_correct;
    } else if (w) {
      ++counts.only_new_correct;
    } else if (o) {
      ++counts.only_old_correct;
    } else {
      ++counts.both_wrong;
    }
  }
  return counts;
}

McNemarResult McNemarExact(int64_t only_new_correct, int64_t only_old_correct) {
  McNemarResult result;
  const int64_t b = std::max<int64_t>(0, only_new_correct);
  const int64_t c = std::max<int64_t>(0, only_old_correct);
  const int64_t m = b + c;
  if (m == 0) return result;
  const double k = static_cast<double>(std::min(b, c));
  try {
    const boost::math::binomial_distribution<double> dist(static_cast<double>(m), 0.5);
    const double cdf = boost::math::cdf(dist, k);
    const double pmf = boost::math::pdf(dist, k);
    result.p_exact = std::min(1.0, 2.0 * cdf);
    result.p_mid = std::min(1.0, 2.0 * (cdf - 0.5 * pmf));
  } catch (...) {
    const double p = NormalApproxTwoSided(static_cast<double>(b), static_cast<double>(c));
    result.p_exact = p;
    result.p_mid = p;
  }
  if (!(result.p_exact >= 0)) result.p_exact = 1.0;  // NaN guard
  if (!(result.p_mid >= 0)) result.p_mid = result.p_exact;
  result.p_mid = std::min(result.p_mid, result.p_exact);
  return result;
}

StatusOr<DifferenceCi> PairedDifferenceCi(const PairedCounts& counts, double confidence) {
  TW_RETURN_IF_ERROR(ValidateCounts(counts));
  if (!(confidence > 0 && confidence < 1)) {
    return InvalidArgumentError("PairedDifferenceCi: confidence must be in (0, 1)");
  }
  double z;
  try {
    z = boost::math::quantile(boost::math::complement(boost::math::normal_distribution<double>(),
                                                      (1.0 - confidence) / 2.0));
  } catch (...) {
    return InvalidArgumentError("PairedDifferenceCi: confidence too close to 0 or 1");
  }
  if (!std::isfinite(z) || !(z > 0)) {
    return InvalidArgumentError("PairedDifferenceCi: confidence too close to 0 or 1");
  }
  const double n = static_cast<double>(counts.n);
  const double b = static_cast<double>(counts.only_new_correct);
  const double c = static_cast<double>(counts.only_old_correct);
  const double estimate = (b - c) / n;

  double lower = -1.0, upper = 1.0;
  if (counts.only_old_correct != counts.n) {  // estimate > -1
    lower = Bisect(b, c, n, z, -1.0, estimate);
  }
  if (counts.only_new_correct != counts.n) {  // estimate < 1
    upper = Bisect(b, c, n, -z, estimate, 1.0);
  }
  DifferenceCi ci;
  ci.delta = 100.0 * static_cast<double>(counts.only_new_correct - counts.only_old_correct) / n;
  ci.lower = std::clamp(100.0 * lower, -100.0, std::min(100.0, ci.delta));
  ci.upper = std::clamp(100.0 * upper, std::max(-100.0, ci.delta), 100.0);
  return ci;
}

std::vector<double> HolmAdjust(const std::vector<double>& p_values) {
  const size_t m = p_values.size();
  std::vector<double> p(m);
  for (size_t i = 0; i < m; ++i) {
    p[i] = std::isnan(p_values[i]) ? 1.0 : std::clamp(p_values[i], 0.0, 1.0);
  }
  std::vector<size_t> order(m);
  std::iota(order.begin(), order.end(), size_t{0});
  std::stable_sort(order.begin(), order.end(), [&](size_t x, size_t y) { return p[x] < p[y]; });
  std::vector<double> adjusted(m, 1.0);
  double running = 0.0;
  for (size_t rank = 0; rank < m; ++rank) {
    const size_t i = order[rank];
    running = std::max(running, std::min(1.0, static_cast<double>(m - rank) * p[i]));
    adjusted[i] = running;
  }
  return adjusted;
}

StatusOr<PairedComparison> ComparePaired(const PairedCounts& counts, double confidence) {
  StatusOr<DifferenceCi> ci = PairedDifferenceCi(counts, confidence);
  if (!ci.ok()) return ci.status();
  PairedComparison comparison;
  comparison.counts = counts;
  comparison.test = McNemarExact(counts.only_new_correct, counts.only_old_correct);
  comparison.ci = *ci;
  return comparison;
}

std::string_view TransferVerdictName(TransferVerdict v) {
  switch (v) {
    case TransferVerdict::kNone:
      return "none";
    case TransferVerdict::kRegression:
      return "regression";
    case TransferVerdict::kNoTransfer:
      return "no-transfer";
  }
  return "none";
}

TransferJudgement JudgeTransfer(
    const PairedComparison& reference,
    const std::vector<std::pair<std::string, PairedComparison>>& variants,
    const TransferThresholds& thresholds) {
  TransferJudgement judgement;
  judgement.reference = reference;
  const double alpha = thresholds.alpha;
  judgement.reference_gain = reference.test.p_exact < alpha &&
                             reference.ci.delta >= thresholds.min_gain_points &&
                             reference.ci.delta > 0;
  std::vector<double> p;
  p.reserve(variants.size());
  for (const auto& [name, comparison] : variants) p.push_back(comparison.test.p_exact);
  const std::vector<double> p_holm = HolmAdjust(p);
  judgement.variants.reserve(variants.size());
  for (size_t i = 0; i < variants.size(); ++i) {
    VariantJudgement v;
    v.variant = variants[i].first;
    v.comparison = variants[i].second;
    v.p_holm = p_holm[i];
    const bool significant = v.p_holm < alpha;
    const double delta = v.comparison.ci.delta;
    if (judgement.reference_gain && significant && delta < 0) {
      v.verdict = TransferVerdict::kRegression;
    } else if (judgement.reference_gain && !(significant && delta > 0)) {
      v.verdict = TransferVerdict::kNoTransfer;
    }
    judgement.variants.push_back(std::move(v));
  }
  return judgement;
}

}  // namespace tw::analysis
