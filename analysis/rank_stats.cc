#include "analysis/rank_stats.h"

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <numeric>
#include <utility>

namespace tw::analysis {
namespace {

// Differences are compared in units of 1e-9: three more places than the inputs carry, so the
// ~1e-14 error of a double subtraction is far below half a unit and rounding removes it.
constexpr double kUnitsPerOne = 1e9;

bool AnyNaN(const std::vector<double>& v) {
  return std::any_of(v.begin(), v.end(), [](double d) { return std::isnan(d); });
}

bool AllFinite(const std::vector<double>& v) {
  return std::all_of(v.begin(), v.end(), [](double d) { return std::isfinite(d); });
}

bool AllEqual(const std::vector<double>& v) {
  return std::all_of(v.begin(), v.end(), [&](double d) { return d == v.front(); });
}

// Mean with the corrected two-pass refinement: the second pass adds back the rounding error of
// sum / n, which matters when the values are large relative to their spread.
double Mean(const std::vector<double>& v) {
  const double n = static_cast<double>(v.size());
  const double mean = std::accumulate(v.begin(), v.end(), 0.0) / n;
  double correction = 0;
  for (double d : v) correction += d - mean;
  return mean + correction / n;
}

// Sums of squared and cross deviations from the means (n times the (co)variances).
struct Moments {
  double mean_x = 0, mean_y = 0, sxx = 0, syy = 0, sxy = 0;
};

Moments CentredMoments(const std::vector<double>& x, const std::vector<double>& y) {
  Moments m;
  m.mean_x = Mean(x);
  m.mean_y = Mean(y);
  for (size_t i = 0; i < x.size(); ++i) {
    const double dx = x[i] - m.mean_x;
    const double dy = y[i] - m.mean_y;
    m.sxx += dx * dx;
    m.syy += dy * dy;
    m.sxy += dx * dy;
  }
  return m;
}

// A strict weak order on doubles that puts NaNs last, so sorting never sees an invalid
// comparator (plain < with NaNs is undefined behaviour in std::sort).
bool NaNLastLess(double a, double b) { return !std::isnan(a) && (std::isnan(b) || a < b); }

int64_t PairsIn(int64_t run) { return run * (run - 1) / 2; }

// Number of pairs within runs of adjacent elements that `same` says are equal. `sorted` must be
// sorted so that equal elements are adjacent.
template <typename T, typename Same>
int64_t TiedPairs(const std::vector<T>& sorted, Same same) {
  int64_t total = 0;
  int64_t run = 1;
  for (size_t i = 1; i < sorted.size(); ++i) {
    if (same(sorted[i - 1], sorted[i])) {
      ++run;
    } else {
      total += PairsIn(run);
      run = 1;
    }
  }
  return total + PairsIn(run);
}

// Sorts `v` ascending (bottom-up merge sort) and returns the number of pairs i < j with
// v[i] > v[j] in the original order. Equal elements are not inversions.
int64_t SortCountingInversions(std::vector<double>& v) {
  const size_t n = v.size();
  std::vector<double> buffer(n);
  int64_t inversions = 0;
  for (size_t width = 1; width < n; width *= 2) {
    for (size_t lo = 0; lo < n; lo += 2 * width) {
      const size_t mid = std::min(lo + width, n);
      const size_t hi = std::min(lo + 2 * width, n);
      size_t i = lo, j = mid, k = lo;
      while (i < mid && j < hi) {
        if (v[j] < v[i]) {
          // v[j] jumps ahead of every element still left in the left half.
          inversions += static_cast<int64_t>(mid - i);
          buffer[k++] = v[j++];
        } else {
          buffer[k++] = v[i++];
        }
      }
      while (i < mid) buffer[k++] = v[i++];
      while (j < hi) buffer[k++] = v[j++];
    }
    v.swap(buffer);
  }
  return inversions;
}

}  // namespace

std::vector<double> AverageRanks(const std::vector<double>& values) {
  const size_t n = values.size();
  std::vector<size_t> order(n);
  std::iota(order.begin(), order.end(), size_t{0});
  std::sort(order.begin(), order.end(),
            [&](size_t a, size_t b) { return NaNLastLess(values[a], values[b]); });
  std::vector<double> ranks(n);
  size_t start = 0;
  while (start < n) {
    size_t end = start + 1;
    while (end < n && !NaNLastLess(values[order[start]], values[order[end]])) ++end;
    // Positions start..end-1 hold ranks start+1..end; their mean is (start + 1 + end) / 2.
    const double rank = (static_cast<double>(start) + 1 + static_cast<double>(end)) / 2;
    for (size_t i = start; i < end; ++i) ranks[order[i]] = rank;
    start = end;
  }
  return ranks;
}

std::optional<double> PearsonCorrelation(const std::vector<double>& x,
                                         const std::vector<double>& y) {
  if (x.size() != y.size() || x.size() < 2) return std::nullopt;
  if (!AllFinite(x) || !AllFinite(y)) return std::nullopt;
  // Tested exactly rather than via sxx == 0: a constant series can leave tiny nonzero deviations
  // when its mean is not representable, and r would then be rounding noise.
  if (AllEqual(x) || AllEqual(y)) return std::nullopt;
  const Moments m = CentredMoments(x, y);
  // sqrt of the product is exact for perfect (anti)correlation on small integers, so r comes out
  // as exactly +-1 there; fall back to separate roots only if the product over- or underflows.
  double denominator = std::sqrt(m.sxx * m.syy);
  if (!std::isfinite(denominator) || denominator == 0) {
    denominator = std::sqrt(m.sxx) * std::sqrt(m.syy);
  }
  const double r = m.sxy / denominator;
  return std::clamp(r, -1.0, 1.0);
}

std::optional<double> SpearmanRho(const std::vector<double>& x, const std::vector<double>& y) {
  if (x.size() != y.size() || x.size() < 2) return std::nullopt;
  if (AnyNaN(x) || AnyNaN(y)) return std::nullopt;
  return PearsonCorrelation(AverageRanks(x), AverageRanks(y));
}

std::optional<double> KendallTauB(const std::vector<double>& x, const std::vector<double>& y) {
  // Knight (1966). Of the n0 pairs, n1 are tied in x, n2 tied in y, n3 tied in both, so
  // n0 - n1 - n2 + n3 are untied in both and each of those is concordant or discordant. After
  // sorting by (x, y), discordant pairs are exactly the strict inversions of the y sequence
  // (pairs tied in x are in ascending y, so they add none), which a merge sort counts.
  // Hence C - D = n0 - n1 - n2 + n3 - 2 * swaps and tau_b = (C - D) / sqrt((n0-n1)(n0-n2)).
  if (x.size() != y.size() || x.size() < 2) return std::nullopt;
  if (AnyNaN(x) || AnyNaN(y)) return std::nullopt;
  const size_t n = x.size();
  std::vector<std::pair<double, double>> xy(n);
  for (size_t i = 0; i < n; ++i) xy[i] = {x[i], y[i]};
  std::sort(xy.begin(), xy.end());

  const int64_t n0 = PairsIn(static_cast<int64_t>(n));
  const int64_t n1 = TiedPairs(xy, [](const auto& a, const auto& b) { return a.first == b.first; });
  const int64_t n3 = TiedPairs(xy, [](const auto& a, const auto& b) { return a == b; });
  std::vector<double> ys(n);
  for (size_t i = 0; i < n; ++i) ys[i] = xy[i].second;
  const int64_t swaps = SortCountingInversions(ys);
  const int64_t n2 = TiedPairs(ys, [](double a, double b) { return a == b; });

  if (n0 == n1 || n0 == n2) return std::nullopt;
  const int64_t numerator = n0 - n1 - n2 + n3 - 2 * swaps;
  // The product in double cannot overflow where the int64 product could (n ~ 1e5).
  const double denominator = std::sqrt(static_cast<double>(n0 - n1) * static_cast<double>(n0 - n2));
  return std::clamp(static_cast<double>(numerator) / denominator, -1.0, 1.0);
}

std::optional<LinearFit> LeastSquares(const std::vector<double>& x, const std::vector<double>& y) {
  if (x.size() != y.size() || x.size() < 2) return std::nullopt;
  if (!AllFinite(x) || !AllFinite(y)) return std::nullopt;
  if (AllEqual(x)) return std::nullopt;  // Exact test, for the reason given in Pearson.
  const Moments m = CentredMoments(x, y);
  LinearFit fit;
  fit.slope = m.sxy / m.sxx;
  fit.intercept = m.mean_y - fit.slope * m.mean_x;
  return fit;
}

double Logit(double p) {
  // log1p keeps precision for small p, where 1 - p would round.
  return std::log(p) - std::log1p(-p);
}

double Sigmoid(double z) {
  // Only ever exponentiate a non-positive number, so exp cannot overflow to inf (inf / inf would
  // be NaN for large negative z in the naive exp(z) / (1 + exp(z))).
  if (z >= 0) return 1.0 / (1.0 + std::exp(-z));
  const double e = std::exp(z);
  return e / (1.0 + e);
}

double ClampProbability(double p, double eps) {
  // min/max rather than std::clamp: clamp is undefined if eps > 1 - eps, and this keeps NaN.
  if (std::isnan(p)) return p;
  return std::min(std::max(p, eps), 1.0 - eps);
}

int CompareDifference(double a, double b, double delta) {
  // Equivalent to comparing llround(...) of both, but std::round stays defined if a caller
  // passes something outside long long's range.
  const double difference = std::round((a - b) * kUnitsPerOne);
  const double threshold = std::round(delta * kUnitsPerOne);
  return (difference > threshold) - (difference < threshold);
}

}  // namespace tw::analysis
