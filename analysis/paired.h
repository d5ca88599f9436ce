// Paired statistics for the transfer analysis: McNemar's exact test, a score confidence interval
// for the difference of two paired accuracies, Holm's step-down correction and the regression /
// no-transfer verdict of BRIEF.md "Transfer analysis". Pure functions: no I/O, no store, no clock,
// no exception escapes (Boost.Math errors are caught inside). Safe to call from any thread.
//
// Notation (docs/statistics.md): on the same n images, an old model R (reference checkpoint) and a
// new model C (candidate) are each right or wrong. b = only_new_correct, c = only_old_correct.
// acc(new) - acc(old) = (b - c) / n.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "common/status.h"

namespace tw::analysis {

// Per-sample top-1 correctness of an old (reference checkpoint R) and a new (candidate C) model on
// the same images.
struct PairedCounts {
  int64_t n = 0;
  int64_t both_correct = 0;
  int64_t only_new_correct = 0;  // C right, R wrong
  int64_t only_old_correct = 0;  // R right, C wrong
  int64_t both_wrong = 0;
  int64_t discordant() const { return only_new_correct + only_old_correct; }
};

// Tallies the 2x2 table. InvalidArgument when the sizes differ or the vectors are empty.
StatusOr<PairedCounts> CountPairs(const std::vector<bool>& old_correct,
                                  const std::vector<bool>& new_correct);

// McNemar's exact test: two-sided exact binomial test on the discordant pairs,
// p_exact = min(1, 2 * P(X <= min(b, c))) with X ~ Binomial(b + c, 1/2). p_mid is the mid-p
// version (2 * P(X < min) + P(X = min), capped at 1); it is reported only, never used for a
// decision. b + c == 0 gives p = 1. Negative counts are treated as 0.
struct McNemarResult {
  double p_exact = 1;
  double p_mid = 1;
};
McNemarResult McNemarExact(int64_t only_new_correct, int64_t only_old_correct);

// acc(new) - acc(old) in PERCENT POINTS with Tango's (1998) score interval for the difference of
// paired proportions (the set of differences the score test does not reject at 1 - confidence;
// never Wald). Always finite; lower <= delta <= upper; within [-100, 100].
struct DifferenceCi {
  double delta = 0;
  double lower = 0;
  double upper = 0;
};
// InvalidArgument when n <= 0, a count is negative, the four cells do not sum to n, or confidence
// is not in (0, 1).
StatusOr<DifferenceCi> PairedDifferenceCi(const PairedCounts& counts, double confidence = 0.95);

// Holm's step-down adjusted p-values, in input order: sort ascending, p_(i) * (m - i + 1) (i from
// 1), running maximum, capped at 1. A NaN input is treated as 1. Empty in, empty out.
std::vector<double> HolmAdjust(const std::vector<double>& p_values);

struct PairedComparison {
  PairedCounts counts;
  McNemarResult test;
  DifferenceCi ci;
};
// Validates the counts (as PairedDifferenceCi), then McNemarExact and PairedDifferenceCi.
StatusOr<PairedComparison> ComparePaired(const PairedCounts& counts, double confidence = 0.95);

enum class TransferVerdict { kNone, kRegression, kNoTransfer };
// "none", "regression", "no-transfer".
std::string_view TransferVerdictName(TransferVerdict v);

struct VariantJudgement {
  std::string variant;
  PairedComparison comparison;
  double p_holm = 1;
  TransferVerdict verdict = TransferVerdict::kNone;
};

struct TransferJudgement {
  PairedComparison reference;   // on the reference dataset ref(V)
  bool reference_gain = false;  // p_exact < alpha and delta >= min_gain_points (and delta > 0)
  std::vector<VariantJudgement> variants;
};

struct TransferThresholds {
  double alpha = 0.05;
  double min_gain_points = 0.1;
};

// Holm over all variants of this comparison (their p_exact). For each variant:
//   regression:  reference_gain && p_holm < alpha && delta < 0
//   no-transfer: reference_gain && !(p_holm < alpha && delta > 0) && not a regression
//   none:        otherwise.
// Variants keep their input order.
TransferJudgement JudgeTransfer(
    const PairedComparison& reference,
    const std::vector<std::pair<std::string, PairedComparison>>& variants,
    const TransferThresholds& thresholds);

}  // namespace tw::analysis
