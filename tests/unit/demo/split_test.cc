#include "demo/split.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <algorithm>
#include <set>

#include "demo/rng.h"
#include "tests/testing/status_matchers.h"

namespace tw::demo {
namespace {

using ::testing::HasSubstr;
using ::tw::testing::StatusIs;

TEST(RngTest, ShuffleIsAPermutationFixedBySeed) {
  std::vector<int> a(100), b(100), c(100);
  for (int i = 0; i < 100; ++i) a[i] = b[i] = c[i] = i;
  Rng(3).Shuffle(a);
  Rng(3).Shuffle(b);
  Rng(4).Shuffle(c);
  EXPECT_EQ(a, b);
  EXPECT_NE(a, c);
  std::vector<int> sorted = a;
  std::sort(sorted.begin(), sorted.end());
  for (int i = 0; i < 100; ++i) EXPECT_EQ(sorted[i], i);
}

TEST(RngTest, DrawsStayInRange) {
  Rng rng(1);
  for (int i = 0; i < 1000; ++i) {
    EXPECT_LT(rng.Below(7), 7u);
    const double u = rng.Uniform(-2, 3);
    EXPECT_GE(u, -2);
    EXPECT_LT(u, 3);
    EXPECT_TRUE(std::isfinite(rng.Normal()));
  }
}

TEST(SplitTest, SplitsAreDisjointAndDeterministic) {
  TW_ASSERT_OK_AND_ASSIGN(Split split, SplitIndices(100, 60, 30, 9));
  EXPECT_EQ(split.train.size(), 60u);
  EXPECT_EQ(split.test.size(), 30u);
  std::set<int> all(split.train.begin(), split.train.end());
  all.insert(split.test.begin(), split.test.end());
  EXPECT_EQ(all.size(), 90u);
  EXPECT_GE(*all.begin(), 0);
  EXPECT_LT(*all.rbegin(), 100);
  TW_ASSERT_OK_AND_ASSIGN(Split again, SplitIndices(100, 60, 30, 9));
  EXPECT_EQ(again.train, split.train);
  EXPECT_EQ(again.test, split.test);
  TW_ASSERT_OK_AND_ASSIGN(Split other, SplitIndices(100, 60, 30, 10));
  EXPECT_NE(other.train, split.train);
}

TEST(SplitTest, RefusesImpossibleSizes) {
  EXPECT_THAT(SplitIndices(100, 80, 30, 1),
              StatusIs(StatusCode::kInvalidArgument, HasSubstr("more than the 100")));
  EXPECT_THAT(SplitIndices(100, 0, 30, 1),
              StatusIs(StatusCode::kInvalidArgument, HasSubstr("at least 1")));
  EXPECT_THAT(SplitIndices(100, 10, 0, 1),
              StatusIs(StatusCode::kInvalidArgument, HasSubstr("at least 1")));
}

TEST(SplitTest, TakePerClassKeepsOrderWithinEachClass) {
  const std::vector<int> labels = {0, 1, 0, 1, 0, 2, 2, 1};
  TW_ASSERT_OK_AND_ASSIGN(std::vector<int> taken,
                          TakePerClass({7, 6, 4, 3, 2, 1, 0, 5}, labels, 3, 2));
  EXPECT_EQ(taken, (std::vector<int>{4, 2, 7, 3, 6, 5}));
  EXPECT_THAT(TakePerClass({0, 1, 2}, labels, 3, 1),
              StatusIs(StatusCode::kInvalidArgument, HasSubstr("class 2 has only 0")));
  EXPECT_THAT(TakePerClass({0, 99}, labels, 3, 1),
              StatusIs(StatusCode::kInvalidArgument, HasSubstr("index 99")));
}

}  // namespace
}  // namespace tw::demo
