#include "scoring/metrics.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <cmath>
#include <cstring>
#include <limits>
#include <optional>
#include <vector>

#include "tests/testing/status_matchers.h"

namespace tw::scoring {
namespace {

using ::testing::ElementsAre;
using ::testing::HasSubstr;
using ::testing::Optional;
using ::tw::testing::StatusIs;

using Top5 = std::array<int16_t, 5>;

constexpr float kNaN = std::numeric_limits<float>::quiet_NaN();
constexpr float kInf = std::numeric_limits<float>::infinity();

bool SameBits(double a, double b) { return std::memcmp(&a, &b, sizeof a) == 0; }

Protocol Classes(int k) {
  Protocol p;
  p.model_classes = k;
  return p;
}

TEST(ValidateProtocolTest, AcceptsDefaultsAndSubsets) {
  TW_EXPECT_OK(ValidateProtocol(Protocol{}));
  TW_EXPECT_OK(ValidateProtocol(Classes(3)));
  Protocol p = Classes(10);
  p.subset = {9, 1, 5, 3, 7};
  TW_EXPECT_OK(ValidateProtocol(p));
}

TEST(ValidateProtocolTest, RejectsBadProtocols) {
  EXPECT_THAT(ValidateProtocol(Classes(0)),
              StatusIs(StatusCode::kInvalidArgument, HasSubstr("model_classes")));
  EXPECT_THAT(ValidateProtocol(Classes(32768)),
              StatusIs(StatusCode::kInvalidArgument, HasSubstr("model_classes")));
  Protocol p = Classes(10);
  p.subset = {1, 2, 3, 4};
  EXPECT_THAT(ValidateProtocol(p), StatusIs(StatusCode::kInvalidArgument, HasSubstr("at least 5")));
  p.subset = {1, 2, 3, 4, 10};
  EXPECT_THAT(ValidateProtocol(p), StatusIs(StatusCode::kInvalidArgument, HasSubstr("10")));
  p.subset = {1, 2, 3, 4, -1};
  EXPECT_THAT(ValidateProtocol(p), StatusIs(StatusCode::kInvalidArgument, HasSubstr("-1")));
  p.subset = {1, 2, 3, 4, 2};
  EXPECT_THAT(ValidateProtocol(p), StatusIs(StatusCode::kInvalidArgument, HasSubstr("twice")));
}

TEST(AccumulatorTest, InvalidProtocolFailsEveryAdd) {
  Accumulator acc(Classes(0));
  const float logits[1] = {0};
  EXPECT_THAT(acc.Add(logits, {0}),
              StatusIs(StatusCode::kInvalidArgument, HasSubstr("model_classes")));
  EXPECT_EQ(acc.Finish().n, 0);
}

// Three classes, logits (1, 2, 3). With max-subtraction the exponentials are
// e^-2 = 0.135335283, e^-1 = 0.367879441, e^0 = 1; sum S = 1.503214724.
//   p(2) = 1/S = 0.665240956 (also the confidence of both samples: the argmax is class 2).
//   -log p(2) = log S = 0.407605964; -log p(0) = 2 + log S = 2.407605964.
// Sample 1 has label 2 (correct), sample 2 label 0 (wrong, but in the top 3 = all classes).
//   top1 = 50%, top5 = 100%, NLL = (0.407605964 + 2.407605964) / 2 = 1.407605964.
//   ECE: both confidences 0.665 fall in bin 9, (0.6, 0.6667]; correct 1, confidence sum
//   2/S = 1.330481912, so ECE = |1 - 1.330481912| / 2 = 0.165240956.
//   Per class: class 2 -> 100%, class 0 -> 0%, class 1 has no samples.
TEST(AccumulatorTest, ThreeClassHandComputed) {
  Accumulator acc(Classes(3));
  const float logits[3] = {1, 2, 3};

  TW_ASSERT_OK_AND_ASSIGN(SampleRecord r1, acc.Add(logits, {2}));
  EXPECT_EQ(r1.top5, (Top5{2, 1, 0, -1, -1}));  // Fewer than five classes: -1 pads.
  EXPECT_TRUE(r1.correct);
  EXPECT_TRUE(r1.correct5);
  EXPECT_FALSE(r1.excluded);
  EXPECT_FLOAT_EQ(r1.true_prob, 0.665240956f);

  TW_ASSERT_OK_AND_ASSIGN(SampleRecord r2, acc.Add(logits, {0}));
  EXPECT_FALSE(r2.correct);
  EXPECT_TRUE(r2.correct5);
  EXPECT_FLOAT_EQ(r2.true_prob, 0.090030573f);  // e^-2 / S.

  const Metrics m = acc.Finish();
  EXPECT_EQ(m.n, 2);
  EXPECT_EQ(m.excluded, 0);
  EXPECT_DOUBLE_EQ(m.top1, 50.0);
  EXPECT_DOUBLE_EQ(m.top5, 100.0);
  ASSERT_TRUE(m.nll.has_value());
  EXPECT_NEAR(*m.nll, 1.4076059644443804, 1e-12);
  ASSERT_TRUE(m.ece.has_value());
  EXPECT_NEAR(*m.ece, 0.16524095577482178, 1e-12);
  EXPECT_THAT(m.per_class_accuracy, ElementsAre(Optional(0.0), std::nullopt, Optional(100.0)));
}

TEST(AccumulatorTest, EmptyFinish) {
  const Metrics m = Accumulator(Classes(3)).Finish();
  EXPECT_EQ(m.n, 0);
  EXPECT_EQ(m.top1, 0);
  EXPECT_FALSE(m.nll.has_value());
  EXPECT_FALSE(m.ece.has_value());
  EXPECT_THAT(m.per_class_accuracy, ElementsAre(std::nullopt, std::nullopt, std::nullopt));
}

// Ten classes, subset {1, 3, 5, 7, 9} (listed out of order). Class 0 has the largest logit but
// does not compete; class 2 is NaN but is not used, so it is not an error.
// Restricted logits: class 3 = ln 2, the others 0, so the exponentials (after subtracting ln 2)
// are 1 for class 3 and 1/2 for the four others: p(3) = 1 / (1 + 4 * 1/2) = 1/3.
// NLL = ln 3 = 1.098612289. Ties among the four zeros break toward the lower index.
TEST(AccumulatorTest, SubsetRestrictsSoftmaxAndTop5) {
  Protocol p = Classes(10);
  p.subset = {9, 7, 5, 3, 1};
  Accumulator acc(p);
  float logits[10] = {10, 0, kNaN, std::log(2.0f), 0, 0, 0, 0, 0, 0};

  TW_ASSERT_OK_AND_ASSIGN(SampleRecord r, acc.Add(logits, {3}));
  EXPECT_EQ(r.top5, (Top5{3, 1, 5, 7, 9}));
  EXPECT_TRUE(r.correct);
  EXPECT_NEAR(r.true_prob, 1.0 / 3, 1e-7);

  const Metrics m = acc.Finish();
  EXPECT_NEAR(*m.nll, std::log(3.0), 1e-7);
  ASSERT_EQ(m.per_class_accuracy.size(), 10u);
  EXPECT_THAT(m.per_class_accuracy[3], Optional(100.0));
  EXPECT_EQ(m.per_class_accuracy[0], std::nullopt);

  // A label outside the subset cannot be scored under this protocol.
  EXPECT_THAT(acc.Add(logits, {0}),
              StatusIs(StatusCode::kInvalidArgument, HasSubstr("not in the protocol's class")));
  // A non-finite logit inside the subset is.
  logits[7] = kInf;
  EXPECT_THAT(acc.Add(logits, {3}),
              StatusIs(StatusCode::kDataLoss, HasSubstr("sample 2: non-finite logits")));
}

TEST(AccumulatorTest, SubsetOrderDoesNotChangeResults) {
  Protocol a = Classes(10), b = Classes(10);
  a.subset = {1, 3, 5, 7, 9};
  b.subset = {9, 5, 1, 7, 3};
  Accumulator acc_a(a), acc_b(b);
  const float logits[10] = {0.3f, 1.7f, -2, 0.25f, 4, 1.1f, 0, -0.5f, 2.2f, 0.9f};
  for (int label : {1, 3, 5, 7, 9}) {
    TW_ASSERT_OK_AND_ASSIGN(SampleRecord ra, acc_a.Add(logits, {label}));
    TW_ASSERT_OK_AND_ASSIGN(SampleRecord rb, acc_b.Add(logits, {label}));
    EXPECT_EQ(ra, rb);
  }
  EXPECT_TRUE(SameBits(*acc_a.Finish().nll, *acc_b.Finish().nll));
}

// Logits (1, 3, 3, 2, 3, 2, 0, 2): three 3s at classes 1, 2, 4, then 2s at 3, 5, 7. Lower
// index first among equals: top5 = (1, 2, 4, 3, 5); class 7 ties with 3 and 5 but misses.
TEST(AccumulatorTest, TopFiveTiesBreakTowardLowerIndex) {
  Accumulator acc(Classes(8));
  const float logits[8] = {1, 3, 3, 2, 3, 2, 0, 2};
  TW_ASSERT_OK_AND_ASSIGN(SampleRecord r7, acc.Add(logits, {7}));
  EXPECT_EQ(r7.top5, (Top5{1, 2, 4, 3, 5}));
  EXPECT_FALSE(r7.correct5);
  TW_ASSERT_OK_AND_ASSIGN(SampleRecord r5, acc.Add(logits, {5}));
  EXPECT_TRUE(r5.correct5);
  EXPECT_FALSE(r5.correct);
  TW_ASSERT_OK_AND_ASSIGN(SampleRecord r2, acc.Add(logits, {2}));
  EXPECT_FALSE(r2.correct);  // Tied with class 1 for the maximum, but 1 is lower.
  EXPECT_TRUE(r2.correct5);

  // All equal: the prediction is class 0, and the signs of zero do not matter.
  const float zeros[8] = {-0.0f, 0, 0, 0, 0, 0, 0, 0};
  TW_ASSERT_OK_AND_ASSIGN(SampleRecord rz, acc.Add(zeros, {0}));
  EXPECT_EQ(rz.top5, (Top5{0, 1, 2, 3, 4}));
  EXPECT_TRUE(rz.correct);
}

TEST(EceBinTest, EdgesBelongToTheLowerBin) {
  EXPECT_EQ(EceBin(0.6), 8);  // (0.5333, 0.6]
  EXPECT_EQ(EceBin(std::nextafter(0.6, 1.0)), 9);
  EXPECT_EQ(EceBin(1.0 / 3), 4);  // (0.2667, 0.3333]: 1/3.0 is the edge 5/15.0.
  EXPECT_EQ(EceBin(1.0), 14);
  EXPECT_EQ(EceBin(1e-12), 0);
  for (int b = 1; b <= kEceBins; ++b) {
    const double edge = static_cast<double>(b) / kEceBins;
    EXPECT_EQ(EceBin(edge), b - 1) << "edge " << b << "/15";
    EXPECT_EQ(EceBin(std::nextafter(edge, 0.0)), b - 1) << "below edge " << b << "/15";
    if (b < kEceBins) {
      EXPECT_EQ(EceBin(std::nextafter(edge, 2.0)), b) << "above edge " << b << "/15";
    }
  }
}

// Five three-class samples with known confidences (max softmax probability):
//   A (0, 0, 0), label 0: confidence exactly 1/3.0 == the edge 5/15.0 -> bin 4; correct.
//   E (ln 1.2, 0, 0), label 1: confidence 1.2 / 3.2 = 0.375 -> bin 5, (0.3333, 0.4]; wrong.
//   C (ln 6, 0, 0), label 0: 6 / 8 = 0.75 -> bin 11, (0.7333, 0.8]; correct.
//   D (ln 6, 0, 0), label 2: 0.75 -> bin 11; wrong.
//   B (100, 0, 0), label 1: e^-100 vanishes next to 1 in double, confidence exactly 1 -> bin 14
//   (the top edge is inside the last bin); wrong.
// ECE = (|1 - 1/3| + |0 - 0.375| + |1 - 1.5| + |0 - 1|) / 5 = (2/3 + 0.375 + 0.5 + 1) / 5
//     = 61/120 = 0.508333. (Putting A in bin 5 with E would give (0.2917 + 0.5 + 1) / 5.)
// The logs are rounded to float, hence the tolerance.
TEST(AccumulatorTest, EceWithKnownBins) {
  Accumulator acc(Classes(3));
  const float a[3] = {0, 0, 0};
  const float e[3] = {std::log(1.2f), 0, 0};
  const float c[3] = {std::log(6.0f), 0, 0};
  const float b[3] = {100, 0, 0};
  TW_ASSERT_OK(acc.Add(a, {0}));
  TW_ASSERT_OK(acc.Add(e, {1}));
  TW_ASSERT_OK(acc.Add(c, {0}));
  TW_ASSERT_OK(acc.Add(c, {2}));
  TW_ASSERT_OK_AND_ASSIGN(SampleRecord rb, acc.Add(b, {1}));
  // e^-100 = 3.8e-44 survives only as a float denormal; the NLL (100) is exact in double.
  EXPECT_GT(rb.true_prob, 0.0f);
  EXPECT_LT(rb.true_prob, 1e-43f);
  const Metrics m = acc.Finish();
  EXPECT_EQ(m.n, 5);
  EXPECT_DOUBLE_EQ(m.top1, 40.0);
  ASSERT_TRUE(m.ece.has_value());
  EXPECT_NEAR(*m.ece, 61.0 / 120, 1e-7);
  EXPECT_TRUE(std::isfinite(*m.nll));
  EXPECT_GT(*m.nll, 100.0 / 5);
}

TEST(AccumulatorTest, ExtremeFiniteLogitsStayFinite) {
  Accumulator acc(Classes(3));
  const float logits[3] = {3e38f, -3e38f, 0};
  TW_ASSERT_OK_AND_ASSIGN(SampleRecord r, acc.Add(logits, {1}));
  EXPECT_EQ(r.true_prob, 0.0f);
  const Metrics m = acc.Finish();
  EXPECT_NEAR(*m.nll, 6e38, 1e32);  // -log p = 3e38 - (-3e38), computed in double.
  EXPECT_DOUBLE_EQ(*m.ece, 1.0);    // Confidence 1, wrong.
}

// Multi-label (ReaL): logits (0, 5, 4, 3, 2, 1) give top5 = (1, 2, 3, 4, 5).
//   {2, 0}: top-1 (1) not in the set; 2 is in the top five -> correct5 only.
//   {1}:    correct and correct5.
//   {}:     excluded; not counted.
//   {0}:    neither.
// n = 3, top1 = 1/3 = 33.33%, top5 = 2/3 = 66.67%.
TEST(AccumulatorTest, MultiLabel) {
  Protocol p = Classes(6);
  p.multi_label = true;
  Accumulator acc(p);
  const float logits[6] = {0, 5, 4, 3, 2, 1};

  TW_ASSERT_OK_AND_ASSIGN(SampleRecord r1, acc.Add(logits, {2, 0}));
  EXPECT_FALSE(r1.correct);
  EXPECT_TRUE(r1.correct5);
  EXPECT_TRUE(std::isnan(r1.true_prob));
  TW_ASSERT_OK_AND_ASSIGN(SampleRecord r2, acc.Add(logits, {1}));
  EXPECT_TRUE(r2.correct);
  EXPECT_TRUE(r2.correct5);
  TW_ASSERT_OK_AND_ASSIGN(SampleRecord r3, acc.Add(logits, {}));
  EXPECT_TRUE(r3.excluded);
  EXPECT_FALSE(r3.correct);
  EXPECT_FALSE(r3.correct5);
  EXPECT_EQ(r3.top5, (Top5{1, 2, 3, 4, 5}));  // The prediction is still recorded.
  EXPECT_TRUE(std::isnan(r3.true_prob));
  TW_ASSERT_OK_AND_ASSIGN(SampleRecord r4, acc.Add(logits, {0}));
  EXPECT_FALSE(r4.correct);
  EXPECT_FALSE(r4.correct5);

  const Metrics m = acc.Finish();
  EXPECT_EQ(m.n, 3);
  EXPECT_EQ(m.excluded, 1);
  EXPECT_DOUBLE_EQ(m.top1, 100.0 / 3);
  EXPECT_DOUBLE_EQ(m.top5, 200.0 / 3);
  EXPECT_FALSE(m.nll.has_value());
  EXPECT_FALSE(m.ece.has_value());
  EXPECT_TRUE(m.per_class_accuracy.empty());

  EXPECT_THAT(acc.Add(logits, {1, 6}),
              StatusIs(StatusCode::kInvalidArgument, HasSubstr("label 6 is outside [0, 6)")));
}

TEST(AccumulatorTest, LabelValidation) {
  Accumulator acc(Classes(3));
  const float logits[3] = {0, 1, 2};
  EXPECT_THAT(acc.Add(logits, {}),
              StatusIs(StatusCode::kInvalidArgument, HasSubstr("exactly one label, got 0")));
  EXPECT_THAT(acc.Add(logits, {0, 1}),
              StatusIs(StatusCode::kInvalidArgument, HasSubstr("exactly one label, got 2")));
  EXPECT_THAT(acc.Add(logits, {3}),
              StatusIs(StatusCode::kInvalidArgument, HasSubstr("sample 2: label 3 is outside")));
  EXPECT_THAT(acc.Add(logits, {-1}), StatusIs(StatusCode::kInvalidArgument, HasSubstr("label -1")));
  EXPECT_THAT(acc.Add(nullptr, {0}), StatusIs(StatusCode::kInvalidArgument, HasSubstr("null")));
  EXPECT_EQ(acc.Finish().n, 0);  // Failed samples are not counted.
}

TEST(AccumulatorTest, NonFiniteLogitsRejected) {
  Accumulator acc(Classes(3));
  const float good[3] = {0, 1, 2};
  TW_ASSERT_OK(acc.Add(good, {2}));
  for (float bad : {kNaN, kInf, -kInf}) {
    const float logits[3] = {0, bad, 2};
    EXPECT_THAT(acc.Add(logits, {2}),
                StatusIs(StatusCode::kDataLoss, HasSubstr("non-finite logits (class 1")));
  }
  EXPECT_THAT(acc.Add(std::array<float, 3>{kNaN, 0, 0}.data(), {0}),
              StatusIs(StatusCode::kDataLoss, HasSubstr("sample 4: non-finite logits")));
  const Metrics m = acc.Finish();
  EXPECT_EQ(m.n, 1);
  EXPECT_DOUBLE_EQ(m.top1, 100.0);
}

// Two datasets scored from one forward pass: each accumulator reads the same row on its own.
TEST(AccumulatorTest, SharedRowAndBitForBitDeterminism) {
  Protocol subset = Classes(12);
  subset.subset = {0, 2, 4, 6, 8, 10};
  Accumulator full1(Classes(12)), full2(Classes(12)), sub(subset);
  std::vector<float> row(12);
  for (int i = 0; i < 50; ++i) {
    for (int c = 0; c < 12; ++c) row[c] = std::sin(0.7f * i + 1.3f * c) * 4;
    const int label = (i * 7) % 6 * 2;
    TW_ASSERT_OK_AND_ASSIGN(SampleRecord a, full1.Add(row.data(), {label}));
    TW_ASSERT_OK(sub.Add(row.data(), {label}));
    TW_ASSERT_OK_AND_ASSIGN(SampleRecord b, full2.Add(row.data(), {label}));
    EXPECT_EQ(a, b);
  }
  const Metrics m1 = full1.Finish(), m2 = full2.Finish();
  EXPECT_EQ(m1.top1, m2.top1);
  EXPECT_TRUE(SameBits(*m1.nll, *m2.nll));
  EXPECT_TRUE(SameBits(*m1.ece, *m2.ece));
  EXPECT_EQ(m1.per_class_accuracy, m2.per_class_accuracy);
  EXPECT_EQ(sub.Finish().n, 50);
  // Finish does not consume anything.
  EXPECT_EQ(full1.Finish().top1, m1.top1);
}

}  // namespace
}  // namespace tw::scoring
