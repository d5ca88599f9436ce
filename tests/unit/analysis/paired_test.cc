#include "analysis/paired.h"

#include <gtest/gtest.h>

#include <cmath>
#include <cstdint>
#include <string>
#include <utility>
#include <vector>

namespace tw::analysis {
namespace {

PairedCounts Counts(int64_t both_correct, int64_t only_new, int64_t only_old, int64_t both_wrong) {
  PairedCounts c;
  c.both_correct = both_correct;
  c.only_new_correct = only_new;
  c.only_old_correct = only_old;
  c.both_wrong = both_wrong;
  c.n = both_correct + only_new + only_old + both_wrong;
  return c;
}

// ---------------------------------------------------------------------------------------------
// Independent reference for Tango's interval: the restricted MLE of p21 is found by maximising the
// multinomial log-likelihood numerically (ternary search; it is concave in p21), not by the
// closed-form quadratic root the library uses; the score statistic is then inverted by bisection.
double BruteRestrictedMle(double b, double c, double n, double delta) {
  double lo = std::max(0.0, -delta), hi = (1.0 - delta) / 2.0;
  auto loglik = [&](double q) {
    double l = 0;
    if (b > 0) l += b * std::log(q + delta);
    if (c > 0) l += c * std::log(q);
    if (n - b - c > 0) l += (n - b - c) * std::log(1.0 - 2.0 * q - delta);
    return l;
  };
  for (int i = 0; i < 300; ++i) {
    const double m1 = lo + (hi - lo) / 3, m2 = hi - (hi - lo) / 3;
    if (loglik(m1) < loglik(m2)) {
      lo = m1;
    } else {
      hi = m2;
    }
  }
  return 0.5 * (lo + hi);
}

double BruteScore(double b, double c, double n, double delta) {
  const double q = BruteRestrictedMle(b, c, n, delta);
  return (b - c - n * delta) / std::sqrt(n * (2 * q + delta * (1 - delta)));
}

std::pair<double, double> BruteTango(const PairedCounts& k, double z) {
  const double b = static_cast<double>(k.only_new_correct);
  const double c = static_cast<double>(k.only_old_correct);
  const double n = static_cast<double>(k.n);
  const double est = (b - c) / n;
  double lo = -1 + 1e-12, hi = est;
  for (int i = 0; i < 100; ++i) {
    const double mid = 0.5 * (lo + hi);
    (BruteScore(b, c, n, mid) > z ? lo : hi) = mid;
  }
  const double lower = 0.5 * (lo + hi);
  lo = est;
  hi = 1 - 1e-12;
  for (int i = 0; i < 100; ++i) {
    const double mid = 0.5 * (lo + hi);
    (BruteScore(b, c, n, mid) > -z ? lo : hi) = mid;
  }
  return {100 * lower, 100 * 0.5 * (lo + hi)};
}

constexpr double kZ95 = 1.959963984540054;

// ----------------------------------------------------------------------------------- CountPairs

TEST(CountPairsTest, TalliesTheFourCells) {
  const std::vector<bool> old_c = {true, true, false, false, true, false, true};
  const std::vector<bool> new_c = {true, false, true, false, true, true, false};
  StatusOr<PairedCounts> k = CountPairs(old_c, new_c);
  ASSERT_TRUE(k.ok()) << k.status().ToString();
  EXPECT_EQ(k->n, 7);
  EXPECT_EQ(k->both_correct, 2);
  EXPECT_EQ(k->only_new_correct, 2);
  EXPECT_EQ(k->only_old_correct, 2);
  EXPECT_EQ(k->both_wrong, 1);
  EXPECT_EQ(k->discordant(), 4);
}

TEST(CountPairsTest, RejectsMismatchAndEmpty) {
  EXPECT_EQ(CountPairs({true}, {true, false}).status().code(), StatusCode::kInvalidArgument);
  EXPECT_EQ(CountPairs({}, {}).status().code(), StatusCode::kInvalidArgument);
}

// ------------------------------------------------------------------------------------- McNemar

TEST(McNemarTest, HandComputedSmallCounts) {
  // b=7, c=1: P(X <= 1 | Bin(8, 1/2)) = 9/256, two-sided 18/256.
  McNemarResult r = McNemarExact(7, 1);
  EXPECT_NEAR(r.p_exact, 0.0703125, 1e-12);
  // mid-p: 2 * (P(X=0) + P(X=1)/2) = 2 * (1 + 4) / 256.
  EXPECT_NEAR(r.p_mid, 10.0 / 256.0, 1e-12);
  EXPECT_LT(r.p_mid, r.p_exact);
  // Symmetric in b and c.
  EXPECT_NEAR(McNemarExact(1, 7).p_exact, 0.0703125, 1e-12);
  // b=10, c=0: 2 / 1024.
  EXPECT_NEAR(McNemarExact(10, 0).p_exact, 2.0 / 1024.0, 1e-15);
  // b=5, c=2: P(X <= 2 | Bin(7, 1/2)) = (1 + 7 + 21) / 128 -> 58/128.
  EXPECT_NEAR(McNemarExact(5, 2).p_exact, 58.0 / 128.0, 1e-12);
}

TEST(McNemarTest, EqualCountsAndNoDiscordanceGiveOne) {
  EXPECT_EQ(McNemarExact(0, 0).p_exact, 1.0);
  EXPECT_EQ(McNemarExact(0, 0).p_mid, 1.0);
  EXPECT_DOUBLE_EQ(McNemarExact(5, 5).p_exact, 1.0);
  EXPECT_DOUBLE_EQ(McNemarExact(1000, 1000).p_exact, 1.0);
  // With b == c the two tails are equal, so 2 P(X < k) + P(X = k) is exactly 1 too.
  EXPECT_NEAR(McNemarExact(5, 5).p_mid, 1.0, 1e-12);
}

TEST(McNemarTest, LargeCountsAgreeWithNormalApproximation) {
  // Continuity-corrected z = (|b - c| - 1) / sqrt(b + c).
  for (auto [b, c] :
       std::vector<std::pair<int64_t, int64_t>>{{600, 500}, {2600, 2400}, {130, 90}}) {
    const double z = (std::fabs(double(b - c)) - 1) / std::sqrt(double(b + c));
    const double approx = std::erfc(z / std::sqrt(2.0));
    const McNemarResult r = McNemarExact(b, c);
    EXPECT_NEAR(r.p_exact / approx, 1.0, 0.05) << b << " " << c;
    EXPECT_LT(r.p_mid, r.p_exact);
  }
  // Very large, very lopsided: underflows gracefully, never NaN.
  const McNemarResult extreme = McNemarExact(3'000'000, 1'000'000);
  EXPECT_FALSE(std::isnan(extreme.p_exact));
  EXPECT_GE(extreme.p_exact, 0.0);
  EXPECT_LT(extreme.p_exact, 1e-100);
}

// ------------------------------------------------------------------------------------ Tango CI

TEST(PairedDifferenceCiTest, MatchesIndependentScoreInversion) {
  const std::vector<PairedCounts> tables = {
      Counts(59, 6, 16, 80),       // Cavo et al. 2012 (Fagerland, Lydersen & Laake, ch. 8)
      Counts(1, 1, 7, 12),         // Bentur et al. 2009
      Counts(794, 150, 86, 570),   // Agresti, prime-minister approval
      Counts(40, 40, 20, 60),      // PropCIs scoreci.mp example b=40, c=20, n=160
      Counts(9000, 300, 200, 500)  // ImageNet-like
  };
  for (const PairedCounts& k : tables) {
    StatusOr<DifferenceCi> ci = PairedDifferenceCi(k);
    ASSERT_TRUE(ci.ok()) << ci.status().ToString();
    const auto [lower, upper] = BruteTango(k, kZ95);
    EXPECT_NEAR(ci->lower, lower, 1e-6) << k.only_new_correct << "/" << k.only_old_correct;
    EXPECT_NEAR(ci->upper, upper, 1e-6) << k.only_new_correct << "/" << k.only_old_correct;
    EXPECT_NEAR(ci->delta, 100.0 * (k.only_new_correct - k.only_old_correct) / k.n, 1e-12);
  }
}

TEST(PairedDifferenceCiTest, ExhaustiveSmallTablesMatchInversion) {
  // Every (b, c) with n = 10 (concordant pairs split arbitrarily; they do not enter).
  const int64_t n = 10;
  for (int64_t b = 0; b <= n; ++b) {
    for (int64_t c = 0; b + c <= n; ++c) {
      const PairedCounts k = Counts(n - b - c, b, c, 0);
      StatusOr<DifferenceCi> ci = PairedDifferenceCi(k);
      ASSERT_TRUE(ci.ok());
      EXPECT_LE(ci->lower, ci->delta);
      EXPECT_GE(ci->upper, ci->delta);
      if (b == n || c == n) continue;  // an end of the interval is +-100 by definition
      const auto [lower, upper] = BruteTango(k, kZ95);
      EXPECT_NEAR(ci->lower, lower, 1e-6) << b << "/" << c;
      EXPECT_NEAR(ci->upper, upper, 1e-6) << b << "/" << c;
    }
  }
}

TEST(PairedDifferenceCiTest, CloseToPublishedIntervalsForCavoTable) {
  // Cavo et al. 2012 as analysed by Fagerland, Lydersen & Laake (2014): b = 6, c = 16, n = 161.
  // Newcombe's method 10, published (contingencytables R package test suite):
  // -6.21 (-11.86 to -0.46) points. Wald, by hand: -6.21 +- 1.96 * sqrt(22 - 100/161) / 161 * 100
  // = (-11.84, -0.58). Tango's interval is a different (score) method and is somewhat wider on
  // the far side of zero here, so agreement is expected only to about half a point; the exact
  // check is MatchesIndependentScoreInversion above. Values we compute: (-12.40, -0.54).
  StatusOr<DifferenceCi> ci = PairedDifferenceCi(Counts(59, 6, 16, 80));
  ASSERT_TRUE(ci.ok());
  EXPECT_NEAR(ci->delta, -6.2112, 1e-4);
  EXPECT_NEAR(ci->lower, -11.86, 0.6);
  EXPECT_NEAR(ci->upper, -0.46, 0.6);
  EXPECT_NEAR(ci->lower, -12.4023, 1e-4);
  EXPECT_NEAR(ci->upper, -0.5433, 1e-4);
}

TEST(PairedDifferenceCiTest, NoDiscordanceHasClosedForm) {
  // b = c = 0: T(delta) reduces to sqrt(n |delta| / (1 - |delta|)), so the limits are
  // +-z^2 / (n + z^2).
  for (int64_t n : {1, 10, 100, 10000}) {
    StatusOr<DifferenceCi> ci = PairedDifferenceCi(Counts(n, 0, 0, 0));
    ASSERT_TRUE(ci.ok());
    const double half = 100.0 * kZ95 * kZ95 / (n + kZ95 * kZ95);
    EXPECT_EQ(ci->delta, 0.0);
    EXPECT_NEAR(ci->lower, -half, 1e-8) << n;
    EXPECT_NEAR(ci->upper, half, 1e-8) << n;
    // Same for all wrong.
    StatusOr<DifferenceCi> wrong = PairedDifferenceCi(Counts(0, 0, 0, n));
    ASSERT_TRUE(wrong.ok());
    EXPECT_NEAR(wrong->lower, -half, 1e-8);
    EXPECT_NEAR(wrong->upper, half, 1e-8);
  }
}

TEST(PairedDifferenceCiTest, ExtremeTablesAreFiniteAndBounded) {
  for (const PairedCounts& k :
       {Counts(0, 5, 0, 0), Counts(0, 0, 5, 0), Counts(0, 1, 0, 0), Counts(0, 0, 1, 0),
        Counts(0, 3, 2, 0), Counts(1'000'000, 1, 0, 0), Counts(0, 1'000'000, 0, 0)}) {
    StatusOr<DifferenceCi> ci = PairedDifferenceCi(k);
    ASSERT_TRUE(ci.ok());
    EXPECT_TRUE(std::isfinite(ci->lower) && std::isfinite(ci->upper));
    EXPECT_LE(ci->lower, ci->delta);
    EXPECT_GE(ci->upper, ci->delta);
    EXPECT_GE(ci->lower, -100.0);
    EXPECT_LE(ci->upper, 100.0);
  }
  StatusOr<DifferenceCi> all_new = PairedDifferenceCi(Counts(0, 5, 0, 0));
  EXPECT_EQ(all_new->delta, 100.0);
  EXPECT_EQ(all_new->upper, 100.0);
  EXPECT_LT(all_new->lower, 100.0);
  StatusOr<DifferenceCi> all_old = PairedDifferenceCi(Counts(0, 0, 5, 0));
  EXPECT_EQ(all_old->lower, -100.0);
  EXPECT_GT(all_old->upper, -100.0);
}

TEST(PairedDifferenceCiTest, ContainsDeltaAndShrinksWithN) {
  double previous_width = 1e9;
  for (int64_t scale : {1, 4, 16, 64, 256}) {
    StatusOr<DifferenceCi> ci = PairedDifferenceCi(Counts(80 * scale, 12 * scale, 8 * scale, 0));
    ASSERT_TRUE(ci.ok());
    EXPECT_LT(ci->lower, ci->delta);
    EXPECT_GT(ci->upper, ci->delta);
    const double width = ci->upper - ci->lower;
    EXPECT_LT(width, previous_width);
    previous_width = width;
  }
  // Higher confidence, wider interval.
  const PairedCounts k = Counts(800, 60, 40, 100);
  EXPECT_GT(PairedDifferenceCi(k, 0.99)->upper, PairedDifferenceCi(k, 0.95)->upper);
  EXPECT_LT(PairedDifferenceCi(k, 0.99)->lower, PairedDifferenceCi(k, 0.95)->lower);
}

TEST(PairedDifferenceCiTest, AgreesWithMcNemarOnSignificance) {
  // The score test at delta = 0 is McNemar's chi-square test; with many discordant pairs the
  // exact test agrees on which side of 0.05 the table falls.
  for (int64_t b = 400; b <= 520; b += 10) {
    const PairedCounts k = Counts(9000, b, 400, 600 - b);
    const DifferenceCi ci = *PairedDifferenceCi(k);
    const McNemarResult t = McNemarExact(k.only_new_correct, k.only_old_correct);
    const bool ci_excludes_zero = ci.lower > 0 || ci.upper < 0;
    if (t.p_exact < 0.04 || t.p_exact > 0.06) {
      EXPECT_EQ(ci_excludes_zero, t.p_exact < 0.05) << b;
    }
  }
}

TEST(PairedDifferenceCiTest, RejectsInvalidInput) {
  PairedCounts bad = Counts(5, 1, 1, 1);
  bad.n = 9;
  EXPECT_EQ(PairedDifferenceCi(bad).status().code(), StatusCode::kInvalidArgument);
  EXPECT_EQ(PairedDifferenceCi(PairedCounts{}).status().code(), StatusCode::kInvalidArgument);
  EXPECT_EQ(PairedDifferenceCi(Counts(5, -1, 1, 1)).status().code(), StatusCode::kInvalidArgument);
  EXPECT_EQ(PairedDifferenceCi(Counts(5, 1, 1, 1), 1.0).status().code(),
            StatusCode::kInvalidArgument);
  EXPECT_EQ(PairedDifferenceCi(Counts(5, 1, 1, 1), 0.0).status().code(),
            StatusCode::kInvalidArgument);
  EXPECT_EQ(PairedDifferenceCi(Counts(5, 1, 1, 1), std::nan("")).status().code(),
            StatusCode::kInvalidArgument);
  PairedCounts overflow = Counts(INT64_MAX, 0, 0, 0);
  overflow.only_new_correct = INT64_MAX;
  EXPECT_EQ(PairedDifferenceCi(overflow).status().code(), StatusCode::kInvalidArgument);
  EXPECT_EQ(ComparePaired(bad).status().code(), StatusCode::kInvalidArgument);
}

// ---------------------------------------------------------------------------------------- Holm

TEST(HolmAdjustTest, HandComputedExample) {
  // Sorted: 0.005*4 = 0.02, 0.01*3 = 0.03, 0.03*2 = 0.06, 0.04*1 = 0.04 -> 0.06 (monotone).
  const std::vector<double> adj = HolmAdjust({0.01, 0.04, 0.03, 0.005});
  ASSERT_EQ(adj.size(), 4u);
  EXPECT_NEAR(adj[0], 0.03, 1e-15);
  EXPECT_NEAR(adj[1], 0.06, 1e-15);
  EXPECT_NEAR(adj[2], 0.06, 1e-15);
  EXPECT_NEAR(adj[3], 0.02, 1e-15);
}

TEST(HolmAdjustTest, CapsAtOneAndHandlesEdges) {
  EXPECT_TRUE(HolmAdjust({}).empty());
  EXPECT_EQ(HolmAdjust({0.3}), std::vector<double>{0.3});
  const std::vector<double> adj = HolmAdjust({0.5, 0.6});
  EXPECT_EQ(adj[0], 1.0);
  EXPECT_EQ(adj[1], 1.0);
  const std::vector<double> with_nan = HolmAdjust({std::nan(""), 0.01});
  EXPECT_EQ(with_nan[0], 1.0);
  EXPECT_NEAR(with_nan[1], 0.02, 1e-15);
  const std::vector<double> ties = HolmAdjust({0.01, 0.01, 0.01});
  for (double p : ties) EXPECT_NEAR(p, 0.03, 1e-15);
}

// ------------------------------------------------------------------------------------- Verdict

PairedComparison Compare(int64_t n, int64_t b, int64_t c) {
  StatusOr<PairedComparison> r = ComparePaired(Counts(n - b - c, b, c, 0));
  EXPECT_TRUE(r.ok());
  return *r;
}

TEST(TransferVerdictTest, Names) {
  EXPECT_EQ(TransferVerdictName(TransferVerdict::kNone), "none");
  EXPECT_EQ(TransferVerdictName(TransferVerdict::kRegression), "regression");
  EXPECT_EQ(TransferVerdictName(TransferVerdict::kNoTransfer), "no-transfer");
}

TEST(JudgeTransferTest, VerdictTable) {
  const PairedComparison gain = Compare(50000, 1500, 1000);    // +1 point, p ~ 1e-23
  const PairedComparison better = Compare(10000, 300, 200);    // +1 point, p ~ 1e-5
  const PairedComparison worse = Compare(10000, 200, 300);     // -1 point, p ~ 1e-5
  const PairedComparison flat = Compare(10000, 250, 250);      // 0, p = 1
  const PairedComparison slightly = Compare(10000, 240, 260);  // -0.2, not significant
  const TransferThresholds t;

  TransferJudgement j = JudgeTransfer(
      gain, {{"better", better}, {"worse", worse}, {"flat", flat}, {"slightly", slightly}}, t);
  EXPECT_TRUE(j.reference_gain);
  ASSERT_EQ(j.variants.size(), 4u);
  EXPECT_EQ(j.variants[0].variant, "better");
  EXPECT_EQ(j.variants[0].verdict, TransferVerdict::kNone);
  EXPECT_EQ(j.variants[1].verdict, TransferVerdict::kRegression);
  EXPECT_EQ(j.variants[2].verdict, TransferVerdict::kNoTransfer);
  EXPECT_EQ(j.variants[3].verdict, TransferVerdict::kNoTransfer);
  EXPECT_NEAR(j.variants[1].p_holm, std::min(1.0, 4 * worse.test.p_exact), 1e-12);

  // No reference gain -> nothing fires.
  TransferJudgement none = JudgeTransfer(flat, {{"worse", worse}, {"flat", flat}}, t);
  EXPECT_FALSE(none.reference_gain);
  for (const VariantJudgement& v : none.variants) EXPECT_EQ(v.verdict, TransferVerdict::kNone);

  // A significant gain below min_gain_points is no gain: +0.05 points on 10^7 images.
  const PairedComparison tiny = Compare(10'000'000, 102'500, 97'500);
  EXPECT_LT(tiny.test.p_exact, 1e-10);
  EXPECT_FALSE(JudgeTransfer(tiny, {{"worse", worse}}, t).reference_gain);
  // Exactly at the threshold (+0.1 points) counts.
  const PairedComparison at = Compare(50000, 1025, 975);
  EXPECT_DOUBLE_EQ(at.ci.delta, 0.1);
  TransferThresholds loose;
  loose.alpha = 0.5;
  EXPECT_TRUE(JudgeTransfer(at, {}, loose).reference_gain);
  // A significant reference loss is not a gain.
  EXPECT_FALSE(JudgeTransfer(worse, {{"worse", worse}}, t).reference_gain);

  // Holm decides: a variant significant alone (p ~ 0.02) but not after correcting over five.
  const PairedComparison borderline = Compare(10000, 100, 140);
  ASSERT_LT(borderline.test.p_exact, 0.05);
  TransferJudgement alone = JudgeTransfer(gain, {{"v", borderline}}, t);
  EXPECT_EQ(alone.variants[0].verdict, TransferVerdict::kRegression);
  TransferJudgement five = JudgeTransfer(
      gain, {{"v", borderline}, {"a", flat}, {"b", flat}, {"c", flat}, {"d", flat}}, t);
  EXPECT_GE(five.variants[0].p_holm, 0.05);
  EXPECT_EQ(five.variants[0].verdict, TransferVerdict::kNoTransfer);
}

}  // namespace
}  // namespace tw::analysis
