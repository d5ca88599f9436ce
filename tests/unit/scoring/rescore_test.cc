#include "scoring/rescore.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <cmath>
#include <cstring>
#include <random>
#include <vector>

#include "tests/testing/status_matchers.h"

namespace tw::scoring {
namespace {

using ::testing::HasSubstr;
using ::tw::testing::StatusIs;

constexpr int kClasses = 20;

bool SameBits(double a, double b) { return std::memcmp(&a, &b, sizeof a) == 0; }

Protocol MultiLabel(std::vector<int> subset = {}) {
  Protocol p;
  p.model_classes = kClasses;
  p.multi_label = true;
  p.subset = std::move(subset);
  return p;
}

// Random logits with ties (values on a coarse grid), so the tie rule is exercised too.
std::vector<std::vector<float>> Logits(int n, uint32_t seed) {
  std::mt19937 rng(seed);
  std::uniform_int_distribution<int> grid(-8, 8);
  std::vector<std::vector<float>> rows(n, std::vector<float>(kClasses));
  for (auto& row : rows) {
    for (auto& v : row) v = static_cast<float>(grid(rng)) * 0.5f;
  }
  return rows;
}

// Label sets drawn from `classes`: some empty (excluded), some with one or several labels.
std::vector<std::vector<int>> LabelSets(int n, const std::vector<int>& classes, uint32_t seed) {
  std::mt19937 rng(seed);
  std::uniform_int_distribution<size_t> pick(0, classes.size() - 1);
  std::uniform_int_distribution<int> size(0, 3);
  std::vector<std::vector<int>> sets(n);
  for (auto& set : sets) {
    int k = size(rng);
    for (int j = 0; j < k; ++j) set.push_back(classes[pick(rng)]);
  }
  return sets;
}

// The property that makes rescoring worth having: records made by a single-label evaluation,
// rescored with a multi-label set, are exactly what an evaluation of the multi-label dataset
// with the logits records, and its metrics agree bit for bit.
void ExpectSameAsEvaluating(const std::vector<int>& subset, uint32_t seed) {
  const int n = 500;
  std::vector<int> classes = subset;
  if (classes.empty()) {
    for (int c = 0; c < kClasses; ++c) classes.push_back(c);
  }
  auto logits = Logits(n, seed);
  std::mt19937 rng(seed + 1);
  std::uniform_int_distribution<size_t> pick(0, classes.size() - 1);

  Protocol single;
  single.model_classes = kClasses;
  single.subset = subset;
  Accumulator source(single);
  std::vector<SampleRecord> stored;
  for (const auto& row : logits) {
    TW_ASSERT_OK_AND_ASSIGN(SampleRecord r, source.Add(row.data(), {classes[pick(rng)]}));
    stored.push_back(r);
  }

  auto labels = LabelSets(n, classes, seed + 2);
  Accumulator direct(MultiLabel(subset));
  std::vector<SampleRecord> expected;
  for (int i = 0; i < n; ++i) {
    TW_ASSERT_OK_AND_ASSIGN(SampleRecord r, direct.Add(logits[i].data(), labels[i]));
    expected.push_back(r);
  }
  Metrics want = direct.Finish();

  TW_ASSERT_OK(CheckRescorable(single, MultiLabel(subset)));
  TW_ASSERT_OK_AND_ASSIGN(Rescored got, RescoreMultiLabel(stored, labels, MultiLabel(subset)));
  ASSERT_EQ(got.records.size(), expected.size());
  for (int i = 0; i < n; ++i) EXPECT_EQ(got.records[i], expected[i]) << "sample " << i;
  EXPECT_EQ(EncodeRecords(got.records), EncodeRecords(expected));
  EXPECT_EQ(got.metrics.n, want.n);
  EXPECT_EQ(got.metrics.excluded, want.excluded);
  EXPECT_GT(want.excluded, 0);
  EXPECT_TRUE(SameBits(got.metrics.top1, want.top1)) << got.metrics.top1 << " " << want.top1;
  EXPECT_TRUE(SameBits(got.metrics.top5, want.top5)) << got.metrics.top5 << " " << want.top5;
  EXPECT_FALSE(got.metrics.nll.has_value());
  EXPECT_FALSE(got.metrics.ece.has_value());
  EXPECT_TRUE(got.metrics.per_class_accuracy.empty());
  EXPECT_EQ(got.bad_images, 0);
}

TEST(RescoreTest, SingleLabelRecordsRescoredAsMultiLabelEqualAnEvaluationWithLogits) {
  ExpectSameAsEvaluating({}, 7);
  ExpectSameAsEvaluating({}, 8);
}

TEST(RescoreTest, ASubsetSharedWithTheSourceIsRescoredExactly) {
  ExpectSameAsEvaluating({19, 2, 5, 7, 11, 13, 3}, 9);
}

TEST(RescoreTest, HandComputedTopOneAndTopFive) {
  std::vector<SampleRecord> stored(4);
  stored[0].top5 = {3, 1, 4, 0, 2};  // labels {3}: top-1
  stored[1].top5 = {5, 6, 7, 8, 9};  // labels {9, 12}: top-5 only
  stored[2].top5 = {1, 2, 3, 4, 5};  // labels {}: excluded
  stored[3].top5 = {0, 1, 2, 3, 4};  // labels {10}: wrong
  TW_ASSERT_OK_AND_ASSIGN(Rescored got,
                          RescoreMultiLabel(stored, {{3}, {9, 12}, {}, {10}}, MultiLabel()));
  EXPECT_EQ(got.metrics.n, 3);
  EXPECT_EQ(got.metrics.excluded, 1);
  EXPECT_DOUBLE_EQ(got.metrics.top1, 100.0 / 3);
  EXPECT_DOUBLE_EQ(got.metrics.top5, 200.0 / 3);
  EXPECT_TRUE(got.records[0].correct && got.records[0].correct5);
  EXPECT_TRUE(!got.records[1].correct && got.records[1].correct5);
  EXPECT_TRUE(got.records[2].excluded && !got.records[2].correct);
  EXPECT_EQ(got.records[2].top5, stored[2].top5);  // kept for excluded samples, as evaluated
  EXPECT_TRUE(!got.records[3].correct && !got.records[3].correct5);
  for (const auto& r : got.records) EXPECT_TRUE(std::isnan(r.true_prob));
}

TEST(RescoreTest, UnusableImagesStayExcludedAndAreCounted) {
  std::vector<SampleRecord> stored(2);
  stored[0].top5.fill(-1);
  stored[0].excluded = true;  // --skip-bad-images
  stored[1].top5 = {4, 3, 2, 1, 0};
  TW_ASSERT_OK_AND_ASSIGN(Rescored got, RescoreMultiLabel(stored, {{4}, {4}}, MultiLabel()));
  EXPECT_EQ(got.bad_images, 1);
  EXPECT_EQ(got.metrics.excluded, 0);  // the evaluator counts these apart
  EXPECT_EQ(got.metrics.n, 1);
  EXPECT_EQ(got.records[0], stored[0]);
  EXPECT_DOUBLE_EQ(got.metrics.top1, 100.0);
}

TEST(RescoreTest, RefusesWhatTheRecordsCannotAnswer) {
  Protocol single;
  single.model_classes = kClasses;
  Protocol other_single = single;
  EXPECT_THAT(CheckRescorable(single, other_single),
              StatusIs(StatusCode::kFailedPrecondition, HasSubstr("only multi-label")));
  EXPECT_THAT(CheckRescorable(single, MultiLabel({0, 1, 2, 3, 4})),
              StatusIs(StatusCode::kFailedPrecondition, HasSubstr("needs the logits")));
  Protocol restricted = single;
  restricted.subset = {0, 1, 2, 3, 4};
  EXPECT_THAT(CheckRescorable(restricted, MultiLabel()),
              StatusIs(StatusCode::kFailedPrecondition, HasSubstr("subset of 5 classes")));
  TW_EXPECT_OK(CheckRescorable(restricted, MultiLabel({4, 3, 2, 1, 0})));  // order is no matter
  Protocol wider = MultiLabel();
  wider.model_classes = kClasses + 1;
  EXPECT_THAT(CheckRescorable(single, wider),
              StatusIs(StatusCode::kFailedPrecondition, HasSubstr("rank 20 model classes")));
}

TEST(RescoreTest, RejectsBadInput) {
  std::vector<SampleRecord> stored(1);
  stored[0].top5 = {0, 1, 2, 3, 4};
  EXPECT_THAT(RescoreMultiLabel(stored, {}, MultiLabel()),
              StatusIs(StatusCode::kInvalidArgument, HasSubstr("1 records for 0 label sets")));
  EXPECT_THAT(RescoreMultiLabel(stored, {{kClasses}}, MultiLabel()),
              StatusIs(StatusCode::kInvalidArgument, HasSubstr("sample 0: label 20")));
  EXPECT_THAT(RescoreMultiLabel(stored, {{7}}, MultiLabel({0, 1, 2, 3, 4})),
              StatusIs(StatusCode::kInvalidArgument, HasSubstr("label 7")));
  Protocol single;
  single.model_classes = kClasses;
  EXPECT_THAT(RescoreMultiLabel(stored, {{1}}, single),
              StatusIs(StatusCode::kInvalidArgument, HasSubstr("multi-label")));
}

}  // namespace
}  // namespace tw::scoring
