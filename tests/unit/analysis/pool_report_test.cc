#include "analysis/pool_report.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <cmath>
#include <limits>
#include <vector>

#include "analysis/rank_stats.h"
#include "tests/testing/status_matchers.h"

namespace tw::analysis {
namespace {

using ::testing::DoubleNear;
using ::testing::HasSubstr;
using ::testing::Optional;
using ::tw::testing::StatusIs;

constexpr double kNaN = std::numeric_limits<double>::quiet_NaN();

std::vector<std::string> Models(const VariantStats& stats) {
  std::vector<std::string> models;
  for (const Residual& r : stats.residuals) models.push_back(r.model);
  return models;
}

PoolReportOptions WithDelta(double delta) {
  PoolReportOptions options;
  options.delta = delta;
  return options;
}

PoolReportOptions WithTop(int top) {
  PoolReportOptions options;
  options.top = top;
  return options;
}

// sigmoid(k * ln 3) = 3^k / (1 + 3^k).
double SigmoidOfLog3Multiple(double k) { return std::pow(3.0, k) / (1 + std::pow(3.0, k)); }

TEST(ComputeVariantStatsTest, HandComputedPool) {
  // References 90, 75, 50, 25 have logits 2L, L, 0, -L with L = ln 3; variants 50, 75, 25, 10
  // have logits 0, L, -L, -2L. Entries are given unsorted.
  const std::vector<PoolEntry> pool = {
      {"c", 224, 50, 25}, {"a", 224, 90, 50}, {"d", 224, 25, 10}, {"b", 224, 75, 75}};
  TW_ASSERT_OK_AND_ASSIGN(VariantStats stats, ComputeVariantStats(pool, {}));
  EXPECT_EQ(stats.n, 4);

  // Distinct references 15+ points apart: each unordered pair is eligible in one order, 6 in
  // all. Only a (90 -> 50) vs b (75 -> 75) has the variant order reversed.
  EXPECT_EQ(stats.eligible_pairs, 6);
  EXPECT_EQ(stats.flips, 1);
  EXPECT_THAT(stats.flip_rate, Optional(DoubleNear(1.0 / 6, 1e-15)));

  // 5 concordant, 1 discordant, no ties: (5 - 1) / 6.
  EXPECT_THAT(stats.kendall_tau_b, Optional(DoubleNear(2.0 / 3, 1e-15)));
  // Ranks ref {4, 3, 2, 1}, var {3, 4, 2, 1}: d = {1, -1, 0, 0}, no ties so
  // rho = 1 - 6 * 2 / (4 * 15) = 0.8.
  EXPECT_THAT(stats.spearman_rho, Optional(DoubleNear(0.8, 1e-15)));

  // In units of L: x = {2, 1, 0, -1}, y = {0, 1, -1, -2}; means 0.5, -0.5;
  // dx = {1.5, .5, -.5, -1.5}, dy = {.5, 1.5, -.5, -1.5}: sxy = .75 + .75 + .25 + 2.25 = 4,
  // sxx = 5 -> slope 0.8, intercept = -0.5L - 0.8 * 0.5L = -0.9L.
  const double kL = std::log(3.0);
  EXPECT_THAT(stats.er_slope, Optional(DoubleNear(0.8, 1e-12)));
  EXPECT_THAT(stats.er_intercept, Optional(DoubleNear(-0.9 * kL, 1e-12)));

  // Fitted logits 0.7L, -0.1L, -0.9L, -1.7L, in the sorted order a, b, c, d.
  ASSERT_EQ(stats.residuals.size(), 4u);
  EXPECT_EQ(Models(stats), (std::vector<std::string>{"a", "b", "c", "d"}));
  const double expected[] = {
      100 * (0.50 - SigmoidOfLog3Multiple(0.7)), 100 * (0.75 - SigmoidOfLog3Multiple(-0.1)),
      100 * (0.25 - SigmoidOfLog3Multiple(-0.9)), 100 * (0.10 - SigmoidOfLog3Multiple(-1.7))};
  for (size_t i = 0; i < 4; ++i) {
    EXPECT_NEAR(stats.residuals[i].residual, expected[i], 1e-10) << i;
  }
  EXPECT_EQ(stats.residuals[0].img_size, 224);
  EXPECT_EQ(stats.residuals[0].reference, 90);
  EXPECT_EQ(stats.residuals[0].variant, 50);
}

TEST(ComputeVariantStatsTest, ExactHalfGapIsEligibleAndReferenceTiesAreNot) {
  // A - B = exactly 0.500 (80.123 - 79.623); D and E tie on reference.
  const std::vector<PoolEntry> pool = {{"A", 224, 80.123, 70},
                                       {"B", 224, 79.623, 71},
                                       {"C", 224, 75, 65},
                                       {"D", 224, 60, 66},
                                       {"E", 224, 60, 50}};
  TW_ASSERT_OK_AND_ASSIGN(VariantStats stats, ComputeVariantStats(pool, {}));
  // Eligible: A over B, C, D, E (4); B over C, D, E (3); C over D, E (2); D/E tied: 9.
  // Flips: A (70) < B (71); C (65) < D (66): 2.
  EXPECT_EQ(stats.eligible_pairs, 9);
  EXPECT_EQ(stats.flips, 2);
  EXPECT_THAT(stats.flip_rate, Optional(DoubleNear(2.0 / 9, 1e-15)));
  // Pairs: AB discordant, CD discordant, DE tied in x, the other 7 concordant.
  // n0 = 10, n1 = 1, n2 = 0: tau_b = (7 - 2) / sqrt(9 * 10).
  EXPECT_THAT(stats.kendall_tau_b, Optional(DoubleNear(5 / std::sqrt(90.0), 1e-15)));
  // Ranks ref {5, 4, 3, 1.5, 1.5}, var {4, 5, 2, 3, 1}; both mean 3.
  // dx = {2, 1, 0, -1.5, -1.5}, dy = {1, 2, -1, 0, -2}: sxy = 2 + 2 + 0 + 0 + 3 = 7,
  // sxx = 9.5, syy = 10 -> rho = 7 / sqrt(95).
  EXPECT_THAT(stats.spearman_rho, Optional(DoubleNear(7 / std::sqrt(95.0), 1e-15)));

  // Just under the gap: 80.122 - 79.623 = 0.499 is not eligible, so A-B no longer flips.
  std::vector<PoolEntry> narrower = pool;
  narrower[0].reference = 80.122;
  TW_ASSERT_OK_AND_ASSIGN(VariantStats narrow_stats, ComputeVariantStats(narrower, {}));
  EXPECT_EQ(narrow_stats.eligible_pairs, 8);
  EXPECT_EQ(narrow_stats.flips, 1);
}

TEST(ComputeVariantStatsTest, DeltaZeroCountsTiesInBothOrders) {
  // References 70, 70, 60. With delta 0: (A, B) and (B, A) are both eligible (gap 0 >= 0),
  // as are (A, C) and (B, C): 4. Flips: (A, B) 50 < 60 and (A, C) 50 < 55: 2.
  const std::vector<PoolEntry> pool = {{"A", 0, 70, 50}, {"B", 0, 70, 60}, {"C", 0, 60, 55}};
  TW_ASSERT_OK_AND_ASSIGN(VariantStats stats, ComputeVariantStats(pool, WithDelta(0)));
  EXPECT_EQ(stats.eligible_pairs, 4);
  EXPECT_EQ(stats.flips, 2);
  EXPECT_THAT(stats.flip_rate, Optional(0.5));

  // A variant tie is not a flip: it needs var_a - var_b < 0 strictly.
  const std::vector<PoolEntry> tied = {{"A", 0, 70, 60}, {"B", 0, 60, 60}};
  TW_ASSERT_OK_AND_ASSIGN(VariantStats tied_stats, ComputeVariantStats(tied, WithDelta(0)));
  EXPECT_EQ(tied_stats.eligible_pairs, 1);
  EXPECT_EQ(tied_stats.flips, 0);
}

TEST(ComputeVariantStatsTest, TopKeepsBestReferencesWithDeterministicTieBreak) {
  const std::vector<PoolEntry> pool = {{"b", 224, 80, 70},
                                       {"a", 384, 80, 71},
                                       {"a", 224, 80, 72},
                                       {"c", 224, 90, 60},
                                       {"d", 224, 70, 65}};
  TW_ASSERT_OK_AND_ASSIGN(VariantStats stats, ComputeVariantStats(pool, WithTop(3)));
  EXPECT_EQ(stats.n, 3);
  ASSERT_EQ(stats.residuals.size(), 3u);
  EXPECT_EQ(stats.residuals[0].model, "c");
  EXPECT_EQ(stats.residuals[1].model, "a");
  EXPECT_EQ(stats.residuals[1].img_size, 224);
  EXPECT_EQ(stats.residuals[2].model, "a");
  EXPECT_EQ(stats.residuals[2].img_size, 384);
  // Within the kept three only c over each a is eligible; c's variant (60) is below both.
  EXPECT_EQ(stats.eligible_pairs, 2);
  EXPECT_EQ(stats.flips, 2);

  // top larger than the pool keeps everything.
  TW_ASSERT_OK_AND_ASSIGN(VariantStats all, ComputeVariantStats(pool, WithTop(50)));
  EXPECT_EQ(all.n, 5);
  EXPECT_EQ(Models(all), (std::vector<std::string>{"c", "a", "a", "b", "d"}));
}

TEST(ComputeVariantStatsTest, PointsOnTheFittedCurveHaveZeroResidual) {
  // Variants placed exactly on logit(var) = 1.3 * logit(ref) - 0.4.
  std::vector<PoolEntry> pool;
  int i = 0;
  for (double ref : {20.0, 45.5, 61.25, 77.0, 93.125}) {
    const double var = 100 * Sigmoid(1.3 * Logit(ref / 100) - 0.4);
    pool.push_back({"m" + std::to_string(i++), 224, ref, var});
  }
  TW_ASSERT_OK_AND_ASSIGN(VariantStats stats, ComputeVariantStats(pool, {}));
  EXPECT_THAT(stats.er_slope, Optional(DoubleNear(1.3, 1e-12)));
  EXPECT_THAT(stats.er_intercept, Optional(DoubleNear(-0.4, 1e-12)));
  ASSERT_EQ(stats.residuals.size(), 5u);
  for (const Residual& r : stats.residuals) EXPECT_NEAR(r.residual, 0, 1e-10) << r.model;
}

TEST(ComputeVariantStatsTest, ZeroAndHundredPercentAreClampedNotInfinite) {
  const std::vector<PoolEntry> pool = {{"a", 0, 100, 0}, {"b", 0, 50, 50}, {"c", 0, 0, 100}};
  TW_ASSERT_OK_AND_ASSIGN(VariantStats stats, ComputeVariantStats(pool, {}));
  ASSERT_TRUE(stats.er_slope.has_value());
  // Symmetric about 50 %: the fit is logit(var) = -logit(ref).
  EXPECT_NEAR(*stats.er_slope, -1, 1e-12);
  // Only nearly 0: 1 - 1e-6 is not a double, so logit(1 - 1e-6) != -logit(1e-6) by ~1e-10.
  EXPECT_NEAR(*stats.er_intercept, 0, 1e-9);
  // The residual compares the unclamped 0 % with the clamped prediction 1e-6: -1e-4 points.
  ASSERT_EQ(stats.residuals.size(), 3u);
  EXPECT_NEAR(stats.residuals[0].residual, -1e-4, 1e-9);
  EXPECT_NEAR(stats.residuals[2].residual, 1e-4, 1e-9);
}

TEST(ComputeVariantStatsTest, DegeneratePools) {
  TW_ASSERT_OK_AND_ASSIGN(VariantStats empty, ComputeVariantStats({}, {}));
  EXPECT_EQ(empty.n, 0);
  EXPECT_EQ(empty.eligible_pairs, 0);
  EXPECT_EQ(empty.flip_rate, std::nullopt);
  EXPECT_EQ(empty.kendall_tau_b, std::nullopt);
  EXPECT_EQ(empty.er_slope, std::nullopt);
  EXPECT_TRUE(empty.residuals.empty());

  TW_ASSERT_OK_AND_ASSIGN(VariantStats one, ComputeVariantStats({{"a", 224, 80, 70}}, {}));
  EXPECT_EQ(one.n, 1);
  EXPECT_EQ(one.spearman_rho, std::nullopt);
  EXPECT_EQ(one.er_intercept, std::nullopt);
  EXPECT_TRUE(one.residuals.empty());

  // All references equal: no eligible pairs at delta 0.5, no rank correlation, no fit.
  TW_ASSERT_OK_AND_ASSIGN(VariantStats flat,
                          ComputeVariantStats({{"a", 0, 80, 70}, {"b", 0, 80, 75}}, {}));
  EXPECT_EQ(flat.n, 2);
  EXPECT_EQ(flat.eligible_pairs, 0);
  EXPECT_EQ(flat.flip_rate, std::nullopt);
  EXPECT_EQ(flat.kendall_tau_b, std::nullopt);
  EXPECT_EQ(flat.spearman_rho, std::nullopt);
  EXPECT_EQ(flat.er_slope, std::nullopt);
  EXPECT_TRUE(flat.residuals.empty());
}

TEST(ComputeVariantStatsTest, RejectsBadOptions) {
  const std::vector<PoolEntry> pool = {{"a", 0, 80, 70}};
  EXPECT_THAT(
      ComputeVariantStats(pool, WithDelta(-0.5)),
      StatusIs(StatusCode::kInvalidArgument, HasSubstr("delta must be finite and >= 0, got -0.5")));
  EXPECT_THAT(ComputeVariantStats(pool, WithDelta(kNaN)),
              StatusIs(StatusCode::kInvalidArgument, HasSubstr("delta")));
  EXPECT_THAT(ComputeVariantStats(pool, WithDelta(std::numeric_limits<double>::infinity())),
              StatusIs(StatusCode::kInvalidArgument, HasSubstr("got inf")));
  EXPECT_THAT(ComputeVariantStats(pool, WithTop(0)),
              StatusIs(StatusCode::kInvalidArgument, HasSubstr("top must be >= 1, got 0")));
  EXPECT_THAT(ComputeVariantStats(pool, WithTop(-3)),
              StatusIs(StatusCode::kInvalidArgument, HasSubstr("got -3")));
}

TEST(ComputeVariantStatsTest, RejectsBadAccuracies) {
  EXPECT_THAT(
      ComputeVariantStats({{"ok", 0, 80, 70}, {"vit-b16", 384, 100.5, 70}}, {}),
      StatusIs(StatusCode::kInvalidArgument,
               HasSubstr("model 'vit-b16' (img_size 384): reference accuracy 100.5 is not")));
  EXPECT_THAT(ComputeVariantStats({{"rn50", 224, 80, -0.1}}, {}),
              StatusIs(StatusCode::kInvalidArgument,
                       HasSubstr("model 'rn50' (img_size 224): variant accuracy -0.1")));
  EXPECT_THAT(ComputeVariantStats({{"rn50", 224, kNaN, 50}}, {}),
              StatusIs(StatusCode::kInvalidArgument, HasSubstr("reference accuracy nan")));
  EXPECT_THAT(
      ComputeVariantStats({{"rn50", 224, 50, -std::numeric_limits<double>::infinity()}}, {}),
      StatusIs(StatusCode::kInvalidArgument, HasSubstr("variant accuracy -inf")));
  // The bounds themselves are valid.
  // (Held in a variable: TW_EXPECT_OK on a temporary StatusOr would keep a dangling reference.)
  const StatusOr<VariantStats> bounds =
      ComputeVariantStats({{"a", 0, 0, 100}, {"b", 0, 100, 0}}, {});
  TW_EXPECT_OK(bounds);
}

TEST(ComputeVariantStatsTest, RejectsDuplicateModelAndImageSize) {
  EXPECT_THAT(
      ComputeVariantStats({{"rn50", 224, 80, 70}, {"x", 224, 60, 50}, {"rn50", 224, 81, 71}}, {}),
      StatusIs(StatusCode::kInvalidArgument,
               HasSubstr("duplicate pool entry for model 'rn50' (img_size 224)")));
  // Same model at another resolution is a different entry.
  const StatusOr<VariantStats> two_sizes =
      ComputeVariantStats({{"rn50", 224, 80, 70}, {"rn50", 288, 81, 71}}, {});
  TW_EXPECT_OK(two_sizes);
}

}  // namespace
}  // namespace tw::analysis
