// Rank statistics and small numeric helpers for the transfer analysis. Pure functions on doubles:
// no I/O, no state, safe to call from any thread.
#pragma once

#include <optional>
#include <vector>

namespace tw::analysis {

// 1-based ranks of `values` in ascending order; tied values share the average of the ranks they
// span ({10, 20, 20} -> {1, 2.5, 2.5}). NaNs rank after every number and tie with each other.
std::vector<double> AverageRanks(const std::vector<double>& values);

// Pearson's r. nullopt when the sizes differ, n < 2, a value is not finite, or x or y is constant.
std::optional<double> PearsonCorrelation(const std::vector<double>& x,
                                         const std::vector<double>& y);

// Spearman's rho, defined as Pearson's r of AverageRanks(x) and AverageRanks(y) (with ties this
// differs from the 1 - 6*sum(d^2)/(n^3 - n) shortcut). nullopt when the sizes differ, n < 2, a
// value is NaN, or x or y is constant.
std::optional<double> SpearmanRho(const std::vector<double>& x, const std::vector<double>& y);

// Kendall's tau-b (tie-corrected) in O(n log n). nullopt when the sizes differ, n < 2, a value is
// NaN, or all x or all y are tied (the denominator is 0).
std::optional<double> KendallTauB(const std::vector<double>& x, const std::vector<double>& y);

struct LinearFit {
  double slope;
  double intercept;
};

// Ordinary least squares y = slope * x + intercept. nullopt when the sizes differ, n < 2, a value
// is not finite, or all x are equal.
std::optional<LinearFit> LeastSquares(const std::vector<double>& x, const std::vector<double>& y);

// log(p / (1 - p)) for p in [0, 1]; -inf at 0, +inf at 1, NaN outside.
double Logit(double p);

// 1 / (1 + exp(-z)), without overflow for large |z|; exactly 0 or 1 only where the true value
// rounds there.
double Sigmoid(double z);

// p clamped to [eps, 1 - eps] so that Logit stays finite. eps must be in (0, 0.5]. NaN stays NaN.
double ClampProbability(double p, double eps = 1e-6);

// Sign (-1, 0, +1) of (a - b) - delta, with (a - b) and delta each rounded to the nearest 1e-9
// first. Exact for inputs parsed from decimals with at most 6 places (accuracies like 80.123),
// where plain double arithmetic can put a difference of exactly 0.5 on either side of 0.5.
// Inputs must be finite.
int CompareDifference(double a, double b, double delta);

}  // namespace tw::analysis
