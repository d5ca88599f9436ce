#include "analysis/rank_stats.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <cmath>
#include <cstdint>
#include <limits>
#include <optional>
#include <random>
#include <vector>

namespace tw::analysis {
namespace {

using ::testing::DoubleNear;
using ::testing::ElementsAre;
using ::testing::Optional;

constexpr double kNaN = std::numeric_limits<double>::quiet_NaN();
constexpr double kInf = std::numeric_limits<double>::infinity();

// O(n^2) reference definitions, written straight from the textbook formulas.
std::optional<double> BruteForceTauB(const std::vector<double>& x, const std::vector<double>& y) {
  const size_t n = x.size();
  int64_t concordant = 0, discordant = 0, x_ties = 0, y_ties = 0;
  for (size_t i = 0; i < n; ++i) {
    for (size_t j = i + 1; j < n; ++j) {
      const bool tx = x[i] == x[j], ty = y[i] == y[j];
      if (tx) ++x_ties;
      if (ty) ++y_ties;
      if (tx || ty) continue;
      if ((x[i] < x[j]) == (y[i] < y[j])) {
        ++concordant;
      } else {
        ++discordant;
      }
    }
  }
  const int64_t n0 = static_cast<int64_t>(n * (n - 1) / 2);
  if (n < 2 || n0 == x_ties || n0 == y_ties) return std::nullopt;
  return static_cast<double>(concordant - discordant) /
         std::sqrt(static_cast<double>(n0 - x_ties) * static_cast<double>(n0 - y_ties));
}

std::vector<double> BruteForceRanks(const std::vector<double>& v) {
  std::vector<double> ranks;
  for (double a : v) {
    int less = 0, equal = 0;
    for (double b : v) {
      less += b < a;
      equal += b == a;
    }
    ranks.push_back(less + (equal + 1) / 2.0);
  }
  return ranks;
}

// Values from a small integer set so that ties (in x, in y and joint) are common.
std::vector<double> RandomTiedValues(std::mt19937& rng, size_t n, int distinct) {
  std::uniform_int_distribution<int> dist(0, distinct - 1);
  std::vector<double> v(n);
  for (double& d : v) d = dist(rng);
  return v;
}

TEST(AverageRanksTest, TiesShareTheMeanRank) {
  // Sorted: 10, 10 -> ranks 1, 2 -> 1.5; 20, 20 -> 3, 4 -> 3.5; 30 -> 5.
  EXPECT_THAT(AverageRanks({10, 20, 20, 30, 10}), ElementsAre(1.5, 3.5, 3.5, 5, 1.5));
  EXPECT_THAT(AverageRanks({3, 1, 2}), ElementsAre(3, 1, 2));
  EXPECT_THAT(AverageRanks({7, 7, 7}), ElementsAre(2, 2, 2));
  EXPECT_TRUE(AverageRanks({}).empty());
}

TEST(AverageRanksTest, NaNsRankLastAndTie) {
  EXPECT_THAT(AverageRanks({kNaN, 1, kNaN, -kInf}), ElementsAre(3.5, 2, 3.5, 1));
}

TEST(AverageRanksTest, MatchesBruteForceOnRandomTies) {
  std::mt19937 rng(7);
  for (size_t n : {1, 2, 10, 500}) {
    const std::vector<double> v = RandomTiedValues(rng, n, 6);
    EXPECT_EQ(AverageRanks(v), BruteForceRanks(v)) << "n=" << n;
  }
}

TEST(PearsonTest, HandComputed) {
  // mean x = 2.5, mean y = 5; dx = {-1.5, -.5, .5, 1.5}, dy = {-3, -1, 0, 4};
  // sxy = 4.5 + .5 + 0 + 6 = 11, sxx = 5, syy = 26 -> r = 11 / sqrt(130).
  EXPECT_THAT(PearsonCorrelation({1, 2, 3, 4}, {2, 4, 5, 9}),
              Optional(DoubleNear(11 / std::sqrt(130.0), 1e-15)));
  EXPECT_THAT(PearsonCorrelation({1, 2, 3}, {10, 20, 30}), Optional(1.0));
  EXPECT_THAT(PearsonCorrelation({1, 2, 3}, {3, 2, 1}), Optional(-1.0));
}

TEST(PearsonTest, LargeOffsetDoesNotLosePrecision) {
  // A naive sum-of-squares formula cancels catastrophically at this offset.
  EXPECT_THAT(PearsonCorrelation({1e9 + 1, 1e9 + 2, 1e9 + 3, 1e9 + 4}, {2, 4, 5, 9}),
              Optional(DoubleNear(11 / std::sqrt(130.0), 1e-12)));
}

TEST(PearsonTest, Nullopt) {
  EXPECT_EQ(PearsonCorrelation({1, 2}, {1, 2, 3}), std::nullopt);
  EXPECT_EQ(PearsonCorrelation({1}, {1}), std::nullopt);
  EXPECT_EQ(PearsonCorrelation({}, {}), std::nullopt);
  // 0.1 * 3 does not sum to exactly 0.3; the constant series must still be caught.
  EXPECT_EQ(PearsonCorrelation({0.1, 0.1, 0.1}, {1, 2, 3}), std::nullopt);
  EXPECT_EQ(PearsonCorrelation({1, 2, 3}, {5, 5, 5}), std::nullopt);
  EXPECT_EQ(PearsonCorrelation({1, kNaN, 3}, {1, 2, 3}), std::nullopt);
  EXPECT_EQ(PearsonCorrelation({1, 2, kInf}, {1, 2, 3}), std::nullopt);
}

TEST(SpearmanTest, TiesUsePearsonOfAverageRanks) {
  // x ranks {1, 2.5, 2.5, 4}; y = {1, 3, 2, 2} ranks {1, 4, 2.5, 2.5}; both mean 2.5.
  // dx = {-1.5, 0, 0, 1.5}, dy = {-1.5, 1.5, 0, 0}: sxy = 2.25, sxx = syy = 4.5 -> rho = 0.5.
  // (The no-ties shortcut would give 1 - 6 * 4.5 / 60 = 0.55.)
  EXPECT_THAT(SpearmanRho({1, 2, 2, 3}, {1, 3, 2, 2}), Optional(DoubleNear(0.5, 1e-15)));
}

TEST(SpearmanTest, MonotoneAndNullopt) {
  // Nonlinear but monotone: rho is exactly +-1 even though Pearson is not.
  EXPECT_THAT(SpearmanRho({1, 2, 3, 4}, {1, 8, 27, 64}), Optional(1.0));
  EXPECT_THAT(SpearmanRho({1, 2, 3, 4}, {64, 27, 8, 1}), Optional(-1.0));
  EXPECT_THAT(SpearmanRho({1, 2, kInf}, {1, 2, 3}), Optional(1.0));
  EXPECT_EQ(SpearmanRho({1, 2, 3}, {4, 4, 4}), std::nullopt);
  EXPECT_EQ(SpearmanRho({1, kNaN}, {1, 2}), std::nullopt);
  EXPECT_EQ(SpearmanRho({1}, {1}), std::nullopt);
  EXPECT_EQ(SpearmanRho({1, 2}, {1}), std::nullopt);
}

TEST(KendallTauBTest, TiesInBoth) {
  // Pairs of x = {1, 2, 2, 3}, y = {1, 3, 2, 2}: (0,1) (0,2) (0,3) concordant; (1,2) tied in x;
  // (1,3) discordant (x up, y 3 -> 2); (2,3) tied in y. n0 = 6, n1 = n2 = 1:
  // tau_b = (3 - 1) / sqrt(5 * 5) = 0.4.
  EXPECT_THAT(KendallTauB({1, 2, 2, 3}, {1, 3, 2, 2}), Optional(DoubleNear(0.4, 1e-15)));
}

TEST(KendallTauBTest, TiesInXOnly) {
  // (0,1) tied in x, the other 5 pairs concordant: 5 / sqrt((6 - 1) * 6).
  EXPECT_THAT(KendallTauB({1, 1, 2, 3}, {1, 2, 3, 4}),
              Optional(DoubleNear(5 / std::sqrt(30.0), 1e-15)));
}

TEST(KendallTauBTest, TiesInYOnly) {
  // (1,2) tied in y, the other 5 pairs discordant: -5 / sqrt(6 * (6 - 1)).
  EXPECT_THAT(KendallTauB({1, 2, 3, 4}, {4, 3, 3, 1}),
              Optional(DoubleNear(-5 / std::sqrt(30.0), 1e-15)));
}

TEST(KendallTauBTest, JointTie) {
  // (0,1) tied in both x and y, the other 2 concordant. n0 = 3, n1 = n2 = n3 = 1:
  // tau_b = 2 / sqrt(2 * 2) = 1.
  EXPECT_THAT(KendallTauB({1, 1, 2}, {5, 5, 6}), Optional(DoubleNear(1.0, 1e-15)));
}

TEST(KendallTauBTest, PerfectAgreementAndReversal) {
  EXPECT_THAT(KendallTauB({1, 2, 3, 4, 5}, {10, 20, 30, 40, 50}), Optional(1.0));
  EXPECT_THAT(KendallTauB({1, 2, 3, 4, 5}, {50, 40, 30, 20, 10}), Optional(-1.0));
  EXPECT_THAT(KendallTauB({2, 1}, {1, 2}), Optional(-1.0));
}

TEST(KendallTauBTest, Nullopt) {
  EXPECT_EQ(KendallTauB({1}, {1}), std::nullopt);
  EXPECT_EQ(KendallTauB({}, {}), std::nullopt);
  EXPECT_EQ(KendallTauB({1, 2}, {1, 2, 3}), std::nullopt);
  EXPECT_EQ(KendallTauB({3, 3, 3}, {1, 2, 3}), std::nullopt);
  EXPECT_EQ(KendallTauB({1, 2, 3}, {3, 3, 3}), std::nullopt);
  EXPECT_EQ(KendallTauB({1, 2, kNaN}, {1, 2, 3}), std::nullopt);
}

TEST(KendallTauBTest, MatchesBruteForceOnRandomTiedData) {
  std::mt19937 rng(20240601);
  for (size_t n : {2, 3, 10, 100, 1000}) {
    for (int distinct : {2, 3, 5, 20}) {
      for (int trial = 0; trial < 5; ++trial) {
        const std::vector<double> x = RandomTiedValues(rng, n, distinct);
        const std::vector<double> y = RandomTiedValues(rng, n, distinct);
        const std::optional<double> expected = BruteForceTauB(x, y);
        const std::optional<double> actual = KendallTauB(x, y);
        ASSERT_EQ(actual.has_value(), expected.has_value()) << "n=" << n;
        if (expected) {
          EXPECT_NEAR(*actual, *expected, 1e-12) << "n=" << n << " distinct=" << distinct;
        }
      }
    }
  }
}

TEST(KendallTauBTest, MatchesBruteForceWithoutTies) {
  std::mt19937 rng(99);
  std::uniform_real_distribution<double> dist(0, 100);
  std::vector<double> x(300), y(300);
  for (size_t i = 0; i < x.size(); ++i) {
    x[i] = dist(rng);
    y[i] = 0.5 * x[i] + dist(rng);
  }
  EXPECT_THAT(KendallTauB(x, y), Optional(DoubleNear(*BruteForceTauB(x, y), 1e-12)));
}

TEST(SpearmanTest, MatchesPearsonOfBruteForceRanksOnRandomTiedData) {
  std::mt19937 rng(3);
  for (size_t n : {3, 10, 100}) {
    const std::vector<double> x = RandomTiedValues(rng, n, 4);
    const std::vector<double> y = RandomTiedValues(rng, n, 4);
    const std::optional<double> expected =
        PearsonCorrelation(BruteForceRanks(x), BruteForceRanks(y));
    ASSERT_TRUE(expected.has_value());
    EXPECT_THAT(SpearmanRho(x, y), Optional(DoubleNear(*expected, 1e-12)));
  }
}

TEST(LeastSquaresTest, RecoversExactLine) {
  const std::vector<double> x = {-2, 0.5, 1, 3, 10};
  std::vector<double> y;
  for (double v : x) y.push_back(1.75 * v - 4);
  const std::optional<LinearFit> fit = LeastSquares(x, y);
  ASSERT_TRUE(fit.has_value());
  EXPECT_NEAR(fit->slope, 1.75, 1e-14);
  EXPECT_NEAR(fit->intercept, -4, 1e-14);
}

TEST(LeastSquaresTest, HandComputedNoisyFit) {
  // x = {0, 1, 2}, y = {0, 0, 2}: means 1 and 2/3; sxy = (-1)(-2/3) + 0 + (1)(4/3) = 2,
  // sxx = 2 -> slope 1, intercept 2/3 - 1 = -1/3.
  const std::optional<LinearFit> fit = LeastSquares({0, 1, 2}, {0, 0, 2});
  ASSERT_TRUE(fit.has_value());
  EXPECT_NEAR(fit->slope, 1, 1e-15);
  EXPECT_NEAR(fit->intercept, -1.0 / 3, 1e-15);
}

TEST(LeastSquaresTest, Nullopt) {
  EXPECT_FALSE(LeastSquares({1}, {1}).has_value());
  EXPECT_FALSE(LeastSquares({1, 2}, {1}).has_value());
  EXPECT_FALSE(LeastSquares({2, 2, 2}, {1, 2, 3}).has_value());
  EXPECT_FALSE(LeastSquares({1, kNaN}, {1, 2}).has_value());
  // A constant y is a valid (flat) fit.
  const std::optional<LinearFit> flat = LeastSquares({1, 2, 3}, {4, 4, 4});
  ASSERT_TRUE(flat.has_value());
  EXPECT_EQ(flat->slope, 0);
  EXPECT_EQ(flat->intercept, 4);
}

TEST(LogitSigmoidTest, RoundTrip) {
  for (double p : {1e-6, 0.01, 0.25, 0.5, 0.75, 0.99, 1 - 1e-6}) {
    EXPECT_NEAR(Sigmoid(Logit(p)), p, 1e-15 + 1e-12 * p) << p;
  }
  for (double z : {-30.0, -5.0, 0.0, 2.0, 13.8}) {
    EXPECT_NEAR(Logit(Sigmoid(z)), z, 1e-9) << z;
  }
  EXPECT_EQ(Logit(0.5), 0);
  EXPECT_NEAR(Logit(0.75), std::log(3.0), 1e-15);
  EXPECT_EQ(Sigmoid(0), 0.5);
}

TEST(LogitSigmoidTest, ExtremeValues) {
  EXPECT_EQ(Sigmoid(1000), 1.0);
  EXPECT_EQ(Sigmoid(-1000), 0.0);
  EXPECT_EQ(Sigmoid(kInf), 1.0);
  EXPECT_EQ(Sigmoid(-kInf), 0.0);
  // Far in the tail the result must keep full relative precision, not round to 0 early.
  EXPECT_NEAR(Sigmoid(-700) / std::exp(-700), 1, 1e-12);
  EXPECT_TRUE(std::isnan(Sigmoid(kNaN)));
  EXPECT_EQ(Logit(0), -kInf);
  EXPECT_EQ(Logit(1), kInf);
  EXPECT_NEAR(Logit(1e-300), std::log(1e-300), 1e-12);
}

TEST(ClampProbabilityTest, Clamps) {
  EXPECT_EQ(ClampProbability(0), 1e-6);
  EXPECT_EQ(ClampProbability(1), 1 - 1e-6);
  EXPECT_EQ(ClampProbability(0.3), 0.3);
  EXPECT_EQ(ClampProbability(-2), 1e-6);
  EXPECT_EQ(ClampProbability(0.05, 0.1), 0.1);
  EXPECT_EQ(ClampProbability(0.95, 0.1), 0.9);
  EXPECT_TRUE(std::isnan(ClampProbability(kNaN)));
  EXPECT_TRUE(std::isfinite(Logit(ClampProbability(0))));
}

TEST(CompareDifferenceTest, ExactHalfIsEqual) {
  EXPECT_EQ(CompareDifference(80.123, 79.623, 0.5), 0);
  EXPECT_EQ(CompareDifference(79.623, 80.123, -0.5), 0);
}

TEST(CompareDifferenceTest, FixesCasesWhereDoubleSubtractionIsWrong) {
  // In doubles 64.002 - 63.502 == 0.4999999999999929, so a naive ">= 0.5" says no.
  ASSERT_LT(64.002 - 63.502, 0.5);
  EXPECT_EQ(CompareDifference(64.002, 63.502, 0.5), 0);
  // And 64.001 - 63.501 == 0.5000000000000071, so a naive "> 0.5" says yes.
  ASSERT_GT(64.001 - 63.501, 0.5);
  EXPECT_EQ(CompareDifference(64.001, 63.501, 0.5), 0);
  // 0.3 - 0.1 == 0.19999999999999998 < 0.2.
  ASSERT_LT(0.3 - 0.1, 0.2);
  EXPECT_EQ(CompareDifference(0.3, 0.1, 0.2), 0);
}

TEST(CompareDifferenceTest, Signs) {
  EXPECT_EQ(CompareDifference(80.124, 79.623, 0.5), 1);
  EXPECT_EQ(CompareDifference(80.122, 79.623, 0.5), -1);
  EXPECT_EQ(CompareDifference(80.000001, 79.5, 0.5), 1);
  EXPECT_EQ(CompareDifference(79.999999, 79.5, 0.5), -1);
  EXPECT_EQ(CompareDifference(70, 70, 0), 0);
  EXPECT_EQ(CompareDifference(70, 70.000001, 0), -1);
  EXPECT_EQ(CompareDifference(100, 0, 0.5), 1);
}

TEST(CompareDifferenceTest, ExhaustiveOverThreeDecimalPairs) {
  // Every a in [60, 65) on a 0.001 grid against a - 0.5 (as text would give it): always equal.
  for (int milli = 60000; milli < 65000; ++milli) {
    const double a = milli / 1000.0;
    const double b = (milli - 500) / 1000.0;
    ASSERT_EQ(CompareDifference(a, b, 0.5), 0) << a << " " << b;
  }
}

}  // namespace
}  // namespace tw::analysis
