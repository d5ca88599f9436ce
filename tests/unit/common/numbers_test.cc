#include "common/numbers.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <cmath>
#include <cstdint>
#include <limits>
#include <string>

#include "tests/testing/status_matchers.h"

namespace tw {
namespace {

using ::testing::HasSubstr;
using ::tw::testing::StatusIs;

TEST(ParseDecimalTest, Accepts) {
  struct Case {
    const char* text;
    double expected;
  };
  const Case kCases[] = {
      {"0", 0.0},
      {"7", 7.0},
      {"007", 7.0},
      {"-1", -1.0},
      {"+2.5", 2.5},
      {"0.875", 0.875},
      {"1e3", 1000.0},
      {"1E-3", 0.001},
      {"-2.5e+2", -250.0},
      {"1.5E+0", 1.5},
      {"5e-324", 5e-324},
      {"1.7976931348623157e308", 1.7976931348623157e308},
      {"123456789012345678901234567890", 1.2345678901234568e29},
  };
  for (const Case& c : kCases) {
    TW_ASSERT_OK_AND_ASSIGN(const double value, ParseDecimal(c.text));
    EXPECT_EQ(value, c.expected) << c.text;
  }
  TW_ASSERT_OK_AND_ASSIGN(const double negative_zero, ParseDecimal("-0"));
  EXPECT_TRUE(std::signbit(negative_zero));
}

TEST(ParseDecimalTest, Rejects) {
  for (const char* text :
       {"",    " ",    "abc", "1 ",       " 1",    "1a",    "+",           "-",  "+-1",
        "--1", "++1",  ".5",  "5.",       "1.2.3", "1e",    "1e+",         "e5", "0x10",
        "inf", "-inf", "nan", "infinity", "1,000", "1_000", "\xef\xbc\x91"}) {
    EXPECT_THAT(ParseDecimal(text),
                StatusIs(StatusCode::kInvalidArgument, HasSubstr("not a number")))
        << text;
  }
  EXPECT_THAT(ParseDecimal(std::string_view("1\0", 2)),
              StatusIs(StatusCode::kInvalidArgument, HasSubstr("not a number: \"1\\x00\"")));
}

TEST(ParseDecimalTest, RejectsOutOfRange) {
  for (const char* text : {"1e309", "-1e400", "1e-400"}) {
    EXPECT_THAT(ParseDecimal(text),
                StatusIs(StatusCode::kInvalidArgument, HasSubstr("out of range")))
        << text;
  }
}

TEST(ParseDecimalTest, MessageQuotesText) {
  EXPECT_THAT(ParseDecimal("abc"),
              StatusIs(StatusCode::kInvalidArgument, ::testing::Eq("not a number: \"abc\"")));
  EXPECT_THAT(ParseDecimal("a\"b"),
              StatusIs(StatusCode::kInvalidArgument, ::testing::Eq("not a number: \"a\\\"b\"")));
  const std::string long_text(1000, 'x');
  StatusOr<double> parsed = ParseDecimal(long_text);
  ASSERT_FALSE(parsed.ok());
  EXPECT_LT(parsed.status().message().size(), 100u);
}

TEST(ParseGroupedDecimalTest, Accepts) {
  struct Case {
    const char* text;
    double expected;
  };
  const Case kCases[] = {
      {"1,013.01", 1013.01},    {"12,345,678", 12345678.0}, {"-1,000", -1000.0},
      {"+999,999.5", 999999.5}, {"1,000e3", 1000000.0},     {"1000", 1000.0},
      {"0.25", 0.25},           {"100,000", 100000.0},
  };
  for (const Case& c : kCases) {
    TW_ASSERT_OK_AND_ASSIGN(const double value, ParseGroupedDecimal(c.text));
    EXPECT_EQ(value, c.expected) << c.text;
  }
}

TEST(ParseGroupedDecimalTest, Rejects) {
  for (const char* text :
       {"1,01.5", ",100", "1,,000", "1000,000", "1,000,", "1,0000", "-,100", "1,000.000,1",
        "1.000,5", "1,000 ", "", ",", "1,abc", "1,000.", "1,000e", "1,00e3", "+-1,000"}) {
    EXPECT_THAT(ParseGroupedDecimal(text),
                StatusIs(StatusCode::kInvalidArgument, HasSubstr("not a number")))
        << text;
  }
  EXPECT_THAT(ParseGroupedDecimal("1,000e999"),
              StatusIs(StatusCode::kInvalidArgument, HasSubstr("out of range: \"1,000e999\"")));
}

TEST(ParseInt64Test, Accepts) {
  struct Case {
    const char* text;
    int64_t expected;
  };
  const Case kCases[] = {
      {"0", 0},
      {"-0", 0},
      {"+42", 42},
      {"-42", -42},
      {"0042", 42},
      {"9223372036854775807", std::numeric_limits<int64_t>::max()},
      {"-9223372036854775808", std::numeric_limits<int64_t>::min()},
  };
  for (const Case& c : kCases) {
    TW_ASSERT_OK_AND_ASSIGN(const int64_t value, ParseInt64(c.text));
    EXPECT_EQ(value, c.expected) << c.text;
  }
}

TEST(ParseInt64Test, Rejects) {
  for (const char* text : {"", "+", "-", "+-1", "-+1", "--1", " 1", "1 ", "1.0", "1e3", "0x1f",
                           "abc", "12a", "1,000"}) {
    EXPECT_THAT(ParseInt64(text),
                StatusIs(StatusCode::kInvalidArgument, HasSubstr("not an integer")))
        << text;
  }
  for (const char* text :
       {"9223372036854775808", "-9223372036854775809", "99999999999999999999999"}) {
    EXPECT_THAT(ParseInt64(text),
                StatusIs(StatusCode::kInvalidArgument, HasSubstr("integer out of range")))
        << text;
  }
}

TEST(ParseIntTest, AcceptsAndRejects) {
  TW_ASSERT_OK_AND_ASSIGN(const int max, ParseInt("2147483647"));
  EXPECT_EQ(max, std::numeric_limits<int>::max());
  TW_ASSERT_OK_AND_ASSIGN(const int min, ParseInt("-2147483648"));
  EXPECT_EQ(min, std::numeric_limits<int>::min());
  TW_ASSERT_OK_AND_ASSIGN(const int plus, ParseInt("+7"));
  EXPECT_EQ(plus, 7);
  EXPECT_THAT(ParseInt("2147483648"),
              StatusIs(StatusCode::kInvalidArgument, HasSubstr("integer out of range")));
  EXPECT_THAT(ParseInt("-2147483649"),
              StatusIs(StatusCode::kInvalidArgument, HasSubstr("integer out of range")));
  EXPECT_THAT(ParseInt("7.0"), StatusIs(StatusCode::kInvalidArgument, HasSubstr("not an integer")));
}

}  // namespace
}  // namespace tw
