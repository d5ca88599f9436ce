// Calibration of the regression flag by simulation (BRIEF.md: under the null the false-alarm rate
// must stay at or below alpha). Seeded and fast: only the discordant counts are simulated, since
// McNemar's test and Tango's interval depend on (b, c, n) alone:
//   discordant ~ Binomial(n, d), b ~ Binomial(discordant, p_split), c = discordant - b.
// A true accuracy difference delta (new - old, as a fraction) with discordance rate d means
// E[b - c] / n = d (2 p_split - 1) = delta, so p_split = 0.5 + delta / (2 d). Example: a 1-point
// gain at 5% discordance is p_split = 0.5 + 0.01 / 0.10 = 0.6; a 1-point drop is 0.4.
#include <gtest/gtest.h>

#include <cmath>
#include <cstdint>
#include <iomanip>
#include <iostream>
#include <random>
#include <sstream>
#include <string>
#include <utility>
#include <vector>

#include "analysis/paired.h"

namespace tw::analysis {
namespace {

constexpr double kAlpha = 0.05;

PairedComparison Simulate(std::mt19937_64& rng, int64_t n, double discordance, double true_delta) {
  const double p_split = 0.5 + true_delta / (2.0 * discordance);
  std::binomial_distribution<int64_t> discordant_dist(n, discordance);
  const int64_t discordant = discordant_dist(rng);
  std::binomial_distribution<int64_t> split(discordant, p_split);
  const int64_t b = split(rng);
  PairedCounts counts;
  counts.n = n;
  counts.only_new_correct = b;
  counts.only_old_correct = discordant - b;
  counts.both_correct = n - discordant;  // the concordant split does not enter the statistics
  StatusOr<PairedComparison> c = ComparePaired(counts);
  EXPECT_TRUE(c.ok());
  return *c;
}

// One TransferWatch comparison: a reference dataset of 50,000 images with a true 1-point gain at
// 5% discordance, and `variants` (true delta, discordance) on 10,000 images each.
TransferJudgement SimulateComparison(std::mt19937_64& rng,
                                     const std::vector<std::pair<double, double>>& variants) {
  const PairedComparison reference = Simulate(rng, 50'000, 0.05, 0.01);
  std::vector<std::pair<std::string, PairedComparison>> v;
  for (size_t i = 0; i < variants.size(); ++i) {
    v.emplace_back("v" + std::to_string(i),
                   Simulate(rng, 10'000, variants[i].second, variants[i].first));
  }
  return JudgeTransfer(reference, v, TransferThresholds{});
}

TEST(PairedCalibrationTest, FalseAlarmRateUnderNullAtMostAlpha) {
  std::mt19937_64 rng(20240501);
  constexpr int kSims = 2000;
  int flagged = 0, gains = 0;
  for (int s = 0; s < kSims; ++s) {
    const TransferJudgement j =
        SimulateComparison(rng, std::vector<std::pair<double, double>>(5, {0.0, 0.05}));
    gains += j.reference_gain;
    bool any = false;
    for (const VariantJudgement& v : j.variants) any |= v.verdict == TransferVerdict::kRegression;
    flagged += any;
  }
  const double rate = double(flagged) / kSims;
  const double bound = kAlpha + 3 * std::sqrt(kAlpha * (1 - kAlpha) / kSims);
  std::cout << "null false-alarm rate (any regression flag, 5 null variants): " << rate << " ("
            << flagged << "/" << kSims << "), bound " << bound
            << ", reference gain detected: " << double(gains) / kSims << "\n";
  RecordProperty("null_false_alarm_rate", std::to_string(rate));
  EXPECT_GT(gains, kSims * 0.99);  // z ~ 10 on the reference: the gain is practically always seen
  EXPECT_LE(rate, bound);
}

// Power to flag one variant with a true 1-point drop at discordance d among four nulls.
double RegressionPower(std::mt19937_64& rng, double discordance, int sims) {
  int hits = 0;
  std::vector<std::pair<double, double>> variants(5, {0.0, discordance});
  variants[0].first = -0.01;
  for (int s = 0; s < sims; ++s) {
    const TransferJudgement j = SimulateComparison(rng, variants);
    hits += j.variants[0].verdict == TransferVerdict::kRegression;
  }
  return double(hits) / sims;
}

TEST(PairedCalibrationTest, PowerForOnePointDrop) {
  std::mt19937_64 rng(7);
  const double power = RegressionPower(rng, 0.05, 1000);
  std::cout << "power, 1-point drop, 10,000 images, 5% discordance, 4 null co-variants: " << power
            << "\n";
  RecordProperty("power_1pt_5pct", std::to_string(power));
  EXPECT_GE(power, 0.9);
}

TEST(PairedCalibrationTest, PowerFallsAsDiscordanceGrows) {
  std::mt19937_64 rng(11);
  constexpr int kSims = 1000;
  const std::vector<double> discordance = {0.05, 0.10, 0.20, 0.30};
  std::vector<double> power;
  std::ostringstream table;
  table << "discordance  p_split  power (1-point drop, n=10,000, " << kSims << " sims)\n";
  for (double d : discordance) {
    power.push_back(RegressionPower(rng, d, kSims));
    table << std::fixed << std::setprecision(2) << std::setw(10) << d * 100 << "%  "
          << std::setprecision(4) << 0.5 - 0.01 / (2 * d) << "   " << std::setprecision(3)
          << power.back() << "\n";
    RecordProperty("power_discordance_" + std::to_string(int(d * 100)),
                   std::to_string(power.back()));
  }
  std::cout << table.str();
  // Non-increasing within simulation noise: 3 standard errors of a difference of two
  // proportions from 1000 runs each is at most 3 * sqrt(2 * 0.25 / 1000) ~= 0.067.
  const double margin = 3 * std::sqrt(2 * 0.25 / kSims);
  for (size_t i = 1; i < power.size(); ++i) EXPECT_LE(power[i], power[i - 1] + margin) << i;
  EXPECT_LT(power.back(), power.front());
}

}  // namespace
}  // namespace tw::analysis
