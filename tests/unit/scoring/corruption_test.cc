#include "scoring/corruption.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <cmath>
#include <fstream>
#include <limits>
#include <sstream>
#include <string>

#include "tests/testing/status_matchers.h"

#ifndef TW_DATA_DIR
#error "TW_DATA_DIR must name the repository's data directory"
#endif

namespace tw::scoring {
namespace {

using ::testing::ElementsAre;
using ::testing::Eq;
using ::testing::Field;
using ::testing::HasSubstr;
using ::testing::Optional;
using ::testing::Pair;
using ::tw::testing::StatusIs;

TEST(ParseAlexNetTableTest, RealFile) {
  const std::string path = TW_DATA_DIR "/imagenet/imagenet_c_alexnet_errors.tsv";
  std::ifstream in(path, std::ios::binary);
  ASSERT_TRUE(in) << "cannot open " << path;
  std::stringstream text;
  text << in.rdbuf();
  TW_ASSERT_OK_AND_ASSIGN(AlexNetErrors table, ParseAlexNetTable(text.str(), path));
  EXPECT_EQ(table.mean_error.size(), 15u);
  EXPECT_THAT(table.clean_error, Optional(0.4345));
  EXPECT_DOUBLE_EQ(table.mean_error.at("gaussian_noise"), 0.886428);
  EXPECT_DOUBLE_EQ(table.mean_error.at("jpeg_compression"), 0.6065);
  EXPECT_EQ(table.mean_error.count("clean"), 0u);
}

TEST(ParseAlexNetTableTest, AcceptsCommentsCrlfAndMissingFinalNewline) {
  TW_ASSERT_OK_AND_ASSIGN(
      AlexNetErrors table,
      ParseAlexNetTable("# c\r\nfog\tweather\t0.8\r\nsnow\tweather\t0.5", "t.tsv"));
  EXPECT_THAT(table.mean_error, ElementsAre(Pair("fog", 0.8), Pair("snow", 0.5)));
  EXPECT_EQ(table.clean_error, std::nullopt);
}

TEST(ParseAlexNetTableTest, Errors) {
  auto expect = [](std::string_view text, const std::string& message) {
    EXPECT_THAT(ParseAlexNetTable(text, "t.tsv"),
                StatusIs(StatusCode::kInvalidArgument, Eq(message)))
        << text;
  };
  expect("# only a comment\n", "t.tsv: no corruption rows");
  expect("fog\tweather\n", "t.tsv:1: expected 3 tab-separated fields (name, family, error), got 2");
  expect("# x\nfog\tweather\t0.8\t1\n",
         "t.tsv:2: expected 3 tab-separated fields (name, family, error), got 4");
  expect("fog\tweather\t0.8\n\nsnow\tweather\t0.5\n",
         "t.tsv:2: expected 3 tab-separated fields (name, family, error), got 1");
  expect("Fog\tweather\t0.8\n", "t.tsv:1: bad corruption name \"Fog\"");
  expect("fog\t\t0.8\n", "t.tsv:1: bad family \"\"");
  expect("fog\tweather\t1.5\n", "t.tsv:1: error \"1.5\" is not a fraction in (0, 1]");
  expect("fog\tweather\t0\n", "t.tsv:1: error \"0\" is not a fraction in (0, 1]");
  expect("fog\tweather\t 0.8\n", "t.tsv:1: not a number: \" 0.8\"");
  expect("fog\tweather\t0.8\nfog\tweather\t0.7\n",
         "t.tsv:2: repeated name \"fog\" (first on line 1)");
  expect("fog\tweather\t0.3\nclean\tclean\t0.4\n",
         "t.tsv:1: error of \"fog\" is not above the clean error");
}

SubsetResult S(std::string corruption, int severity, double top1) {
  return SubsetResult{std::move(corruption), severity, top1};
}

// Table: fog 0.8, snow 0.5, brightness 0.6, clean 0.4. Model clean top-1 80% -> error 0.2.
//   fog:  top-1 90, 80, 70, 60, 50 -> errors 0.1 .. 0.5, mean 0.3 -> CE = 0.3 / 0.8 = 0.375
//         relative CE = (0.3 - 0.2) / (0.8 - 0.4) = 0.25
//   snow: top-1 60 at every severity -> error 0.4 -> CE = 0.4 / 0.5 = 0.8
//         relative CE = (0.4 - 0.2) / (0.5 - 0.4) = 2
//   brightness: only severity 3 -> CE nullopt (not comparable with a five-severity mean)
//   zoom_x: all five severities but not in the table -> CE nullopt
// mCE = (0.375 + 0.8) / 2 = 0.5875; relative mCE = (0.25 + 2) / 2 = 1.125.
TEST(SummarizeCorruptionTest, HandComputed) {
  AlexNetErrors table;
  table.mean_error = {{"fog", 0.8}, {"snow", 0.5}, {"brightness", 0.6}};
  table.clean_error = 0.4;
  std::vector<SubsetResult> subsets;
  for (int s = 5; s >= 1; --s) {
    subsets.push_back(S("zoom_x", s, 10));
    subsets.push_back(S("snow", s, 60));
    subsets.push_back(S("fog", s, 100 - 10 * s));
  }
  subsets.push_back(S("brightness", 3, 70));

  TW_ASSERT_OK_AND_ASSIGN(CorruptionSummary summary,
                          SummarizeCorruption(subsets, table, /*clean_top1=*/80.0));
  ASSERT_EQ(summary.subsets.size(), 16u);
  EXPECT_EQ(summary.subsets[0].corruption, "brightness");
  EXPECT_THAT(summary.subsets[1], Field(&SubsetResult::corruption, "fog"));
  EXPECT_EQ(summary.subsets[1].severity, 1);
  EXPECT_EQ(summary.subsets[5].severity, 5);
  EXPECT_EQ(summary.subsets[15].corruption, "zoom_x");

  ASSERT_EQ(summary.ce.size(), 4u);
  EXPECT_EQ(summary.ce.at("brightness"), std::nullopt);
  EXPECT_EQ(summary.ce.at("zoom_x"), std::nullopt);
  EXPECT_NEAR(*summary.ce.at("fog"), 0.375, 1e-12);
  EXPECT_NEAR(*summary.ce.at("snow"), 0.8, 1e-12);
  EXPECT_NEAR(*summary.mce, 0.5875, 1e-12);
  EXPECT_NEAR(*summary.relative_mce, 1.125, 1e-12);

  // Relative mCE needs both clean errors.
  TW_ASSERT_OK_AND_ASSIGN(CorruptionSummary no_clean,
                          SummarizeCorruption(subsets, table, std::nullopt));
  EXPECT_NEAR(*no_clean.mce, 0.5875, 1e-12);
  EXPECT_EQ(no_clean.relative_mce, std::nullopt);
  AlexNetErrors no_clean_row = table;
  no_clean_row.clean_error.reset();
  TW_ASSERT_OK_AND_ASSIGN(CorruptionSummary no_row,
                          SummarizeCorruption(subsets, no_clean_row, 80.0));
  EXPECT_EQ(no_row.relative_mce, std::nullopt);
}

TEST(SummarizeCorruptionTest, NothingComparable) {
  AlexNetErrors table;
  table.mean_error = {{"fog", 0.8}};
  table.clean_error = 0.4;
  TW_ASSERT_OK_AND_ASSIGN(CorruptionSummary empty, SummarizeCorruption({}, table, 80.0));
  EXPECT_TRUE(empty.subsets.empty());
  EXPECT_TRUE(empty.ce.empty());
  EXPECT_EQ(empty.mce, std::nullopt);
  EXPECT_EQ(empty.relative_mce, std::nullopt);

  TW_ASSERT_OK_AND_ASSIGN(CorruptionSummary unknown,
                          SummarizeCorruption({S("snow", 1, 50)}, table, 80.0));
  EXPECT_THAT(unknown.ce, ElementsAre(Pair("snow", std::nullopt)));
  EXPECT_EQ(unknown.mce, std::nullopt);
  EXPECT_EQ(unknown.relative_mce, std::nullopt);
}

TEST(SummarizeCorruptionTest, ValidatesInput) {
  AlexNetErrors table;
  table.mean_error = {{"fog", 0.8}};
  auto expect = [&](std::vector<SubsetResult> subsets, std::optional<double> clean,
                    const std::string& what) {
    EXPECT_THAT(SummarizeCorruption(std::move(subsets), table, clean),
                StatusIs(StatusCode::kInvalidArgument, HasSubstr(what)));
  };
  expect({S("fog", 0, 50)}, std::nullopt, "severity must be in 1..5");
  expect({S("fog", 6, 50)}, std::nullopt, "severity must be in 1..5");
  expect({S("fog", 1, 50), S("snow", 1, 50), S("fog", 1, 40)}, std::nullopt,
         "\"fog\" severity 1 is listed twice");
  expect({S("Fog", 1, 50)}, std::nullopt, "bad corruption name");
  expect({S("fog-x", 1, 50)}, std::nullopt, "bad corruption name");
  expect({S("", 1, 50)}, std::nullopt, "bad corruption name");
  expect({S("fog", 1, 100.5)}, std::nullopt, "is not in [0, 100]");
  expect({S("fog", 1, std::numeric_limits<double>::quiet_NaN())}, std::nullopt,
         "is not in [0, 100]");
  expect({S("fog", 1, 50)}, -1.0, "clean top1");

  // A hand-built table that would make relative CE divide by <= 0.
  table.clean_error = 0.9;
  std::vector<SubsetResult> all;
  for (int s = 1; s <= 5; ++s) all.push_back(S("fog", s, 50));
  expect(all, 80.0, "not above its clean error");
}

}  // namespace
}  // namespace tw::scoring
