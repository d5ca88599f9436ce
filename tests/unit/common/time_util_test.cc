#include "common/time_util.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <chrono>
#include <string>

#include "tests/testing/status_matchers.h"

namespace tw {
namespace {

using std::chrono::hours;
using std::chrono::milliseconds;
using std::chrono::minutes;
using std::chrono::seconds;
using std::chrono::system_clock;
using ::testing::AllOf;
using ::testing::HasSubstr;
using ::tw::testing::StatusIs;

// 2026-12-04T10:00:00Z, worked out independently: 20791 days after 1970-01-01.
constexpr int64_t kDec4Seconds = 20791LL * 86400 + 10 * 3600;

system_clock::time_point At(int64_t epoch_seconds, int64_t millis = 0) {
  return system_clock::time_point(std::chrono::duration_cast<system_clock::duration>(
      seconds(epoch_seconds) + milliseconds(millis)));
}

TEST(ParseDurationTest, AcceptsEachUnitAndCombinations) {
  EXPECT_EQ(ParseDuration("500ms").value(), milliseconds(500));
  EXPECT_EQ(ParseDuration("30s").value(), seconds(30));
  EXPECT_EQ(ParseDuration("5m").value(), minutes(5));
  EXPECT_EQ(ParseDuration("2h").value(), hours(2));
  EXPECT_EQ(ParseDuration("1d").value(), hours(24));
  EXPECT_EQ(ParseDuration("1h30m").value(), minutes(90));
  EXPECT_EQ(ParseDuration("1d2h3m4s5ms").value(),
            hours(26) + minutes(3) + seconds(4) + milliseconds(5));
  EXPECT_EQ(ParseDuration("0s").value(), milliseconds(0));
  EXPECT_EQ(ParseDuration("90m").value(), minutes(90));
  EXPECT_EQ(ParseDuration("007s").value(), seconds(7));
}

TEST(ParseDurationTest, RejectsMalformedText) {
  for (const char* bad : {"", "5", "0", "s", "5x", "5 s", " 5s", "5s ", "1.5h", "+5s", "5S", "1h30",
                          "h1", "5mss", "ms", "5sm"}) {
    EXPECT_THAT(ParseDuration(bad), StatusIs(StatusCode::kInvalidArgument,
                                             AllOf(HasSubstr("\"" + std::string(bad) + "\""),
                                                   HasSubstr("units: ms, s, m, h, d"))))
        << bad;
  }
}

TEST(ParseDurationTest, RejectsNegative) {
  EXPECT_THAT(ParseDuration("-5s"),
              StatusIs(StatusCode::kInvalidArgument, HasSubstr("cannot be negative")));
}

TEST(ParseDurationTest, RejectsRepeatedOrAscendingUnits) {
  EXPECT_THAT(ParseDuration("30m5m"),
              StatusIs(StatusCode::kInvalidArgument, HasSubstr("largest to smallest")));
  EXPECT_THAT(ParseDuration("30s1h"),
              StatusIs(StatusCode::kInvalidArgument, HasSubstr("largest to smallest")));
}

TEST(ParseDurationTest, ChecksOverflow) {
  // int64 max milliseconds is about 106,751,991,167 days.
  EXPECT_EQ(ParseDuration("9223372036854775807ms").value().count(), INT64_MAX);
  EXPECT_THAT(ParseDuration("9223372036854775808ms"),
              StatusIs(StatusCode::kInvalidArgument, HasSubstr("too large")));
  EXPECT_THAT(ParseDuration("106751991168d"),
              StatusIs(StatusCode::kInvalidArgument, HasSubstr("too large")));
  EXPECT_THAT(ParseDuration("106751991167d10h"),
              StatusIs(StatusCode::kInvalidArgument, HasSubstr("too large")));
  EXPECT_THAT(ParseDuration("99999999999999999999999s"),
              StatusIs(StatusCode::kInvalidArgument, HasSubstr("too large")));
}

TEST(ParseSinceTest, DurationMeansAgo) {
  const auto now = At(kDec4Seconds);
  EXPECT_EQ(ParseSince("12h", now).value(), now - hours(12));
  EXPECT_EQ(ParseSince("7d", now).value(), now - hours(7 * 24));
  EXPECT_EQ(ParseSince("0s", now).value(), now);
  EXPECT_EQ(ParseSince("1500ms", now).value(), now - milliseconds(1500));
}

TEST(ParseSinceTest, DurationBeyondTheClockRangeIsAnError) {
  EXPECT_THAT(ParseSince("9223372036854775807ms", At(0)),
              StatusIs(StatusCode::kInvalidArgument, HasSubstr("outside the range")));
  EXPECT_THAT(ParseSince("30s1h", At(0)),
              StatusIs(StatusCode::kInvalidArgument, HasSubstr("largest to smallest")));
}

TEST(ParseSinceTest, TimestampForms) {
  const auto now = At(0);
  const auto expected = At(kDec4Seconds);
  EXPECT_EQ(ParseSince("2026-12-04", now).value(), At(kDec4Seconds - 10 * 3600));
  EXPECT_EQ(ParseSince("2026-12-04T10:00", now).value(), expected);
  EXPECT_EQ(ParseSince("2026-12-04T10:00:00", now).value(), expected);
  EXPECT_EQ(ParseSince("2026-12-04T10:00:00Z", now).value(), expected);
  EXPECT_EQ(ParseSince("2026-12-04t10:00:00z", now).value(), expected);
  EXPECT_EQ(ParseSince("2026-12-04 10:00:00Z", now).value(), expected);
  EXPECT_EQ(ParseSince("2026-12-04T10:00:00.123Z", now).value(), At(kDec4Seconds, 123));
  EXPECT_EQ(ParseSince("2026-12-04T10:00:00.5", now).value(), At(kDec4Seconds, 500));
  EXPECT_EQ(ParseSince("2026-12-04T10:00:00.123456789Z", now).value(),
            expected + std::chrono::duration_cast<system_clock::duration>(
                           std::chrono::nanoseconds(123456789)));
  EXPECT_EQ(ParseSince("2026-12-04T10:00Z", now).value(), expected);
}

TEST(ParseSinceTest, OffsetsAreConvertedToUtc) {
  const auto now = At(0);
  EXPECT_EQ(ParseSince("2026-12-04T10:00:00+00:00", now).value(), At(kDec4Seconds));
  EXPECT_EQ(ParseSince("2026-12-04T15:30:00+05:30", now).value(), At(kDec4Seconds));
  EXPECT_EQ(ParseSince("2026-12-04T02:00:00-0800", now).value(), At(kDec4Seconds));
  EXPECT_EQ(ParseSince("2026-12-04T12:00:00+02", now).value(), At(kDec4Seconds));
  // An offset can move the instant across a day boundary.
  EXPECT_EQ(ParseSince("2026-12-03T23:00:00-11:00", now).value(), At(kDec4Seconds));
}

TEST(ParseSinceTest, KnownEpochValues) {
  const auto now = At(0);
  EXPECT_EQ(ParseSince("1970-01-01T00:00:00Z", now).value(), At(0));
  EXPECT_EQ(ParseSince("2000-03-01", now).value(), At(951868800));
  EXPECT_EQ(ParseSince("1969-12-31T23:59:59Z", now).value(), At(-1));
  EXPECT_EQ(ParseSince("2038-01-19T03:14:08Z", now).value(), At(2147483648LL));
}

TEST(ParseSinceTest, ValidatesRanges) {
  const auto now = At(0);
  struct Case {
    const char* text;
    const char* message;
  };
  for (const Case& c : std::initializer_list<Case>{
           {"2026-13-01", "month 13 is out of range (1-12)"},
           {"2026-00-01", "month 0 is out of range"},
           {"2026-02-29", "day 29 is out of range (1-28)"},
           {"2026-04-31", "day 31 is out of range (1-30)"},
           {"2026-01-00", "day 0"},
           {"1900-02-29", "day 29 is out of range (1-28)"},
           {"2026-12-04T24:00:00Z", "hour 24"},
           {"2026-12-04T10:60:00Z", "minute 60"},
           {"2026-12-04T10:00:60Z", "second 60"},
           {"2026-12-04T10:00:00+24:00", "UTC offset hour 24"},
           {"2026-12-04T10:00:00+05:60", "UTC offset minute 60"},
       }) {
    EXPECT_THAT(ParseSince(c.text, now),
                StatusIs(StatusCode::kInvalidArgument,
                         AllOf(HasSubstr("\"" + std::string(c.text) + "\""), HasSubstr(c.message))))
        << c.text;
  }
  // Leap days that exist.
  TW_EXPECT_OK(ParseSince("2024-02-29", now));
  TW_EXPECT_OK(ParseSince("2000-02-29", now));
}

TEST(ParseSinceTest, RejectsMalformedText) {
  const auto now = At(0);
  for (const char* bad : {"",
                          "yesterday",
                          "2026",
                          "2026-12",
                          "2026-12-4",
                          "2026/12/04",
                          "2026-12-04T",
                          "2026-12-04T10",
                          "2026-12-04T10:0",
                          "2026-12-04T10:00:0",
                          "2026-12-04T10:00:00.",
                          "2026-12-04T10:00:00.1234567890",
                          "2026-12-04T10:00:00ZZ",
                          "2026-12-04T10:00:00+5",
                          "2026-12-04T10:00:00+05:",
                          "2026-12-04Z",
                          "2026-12-04x10:00",
                          " 2026-12-04",
                          "2026-12-04T10:00.5",
                          "-12h",
                          "12"}) {
    EXPECT_THAT(ParseSince(bad, now),
                StatusIs(StatusCode::kInvalidArgument,
                         "invalid time \"" + std::string(bad) +
                             "\": expected ISO-8601 UTC (2026-12-04T10:00:00Z) or a duration such "
                             "as 12h or 7d"))
        << bad;
  }
}

TEST(ParseSinceTest, TimestampOutsideTheClockRangeIsAnError) {
  // system_clock counts nanoseconds in int64 on common platforms (years 1677-2262); a wider clock
  // would accept these, so only check that the answer is an error or a correct round trip.
  for (const char* text : {"9999-12-31T23:59:59Z", "0000-01-01"}) {
    StatusOr<system_clock::time_point> t = ParseSince(text, At(0));
    if (t.ok()) {
      EXPECT_EQ(FormatIso8601Utc(*t).substr(0, 10), std::string(text).substr(0, 10));
    } else {
      EXPECT_THAT(t, StatusIs(StatusCode::kInvalidArgument, HasSubstr("outside the range")));
    }
  }
}

TEST(FormatIso8601UtcTest, Formats) {
  EXPECT_EQ(FormatIso8601Utc(At(kDec4Seconds)), "2026-12-04T10:00:00Z");
  EXPECT_EQ(FormatIso8601Utc(At(kDec4Seconds, 123)), "2026-12-04T10:00:00.123Z");
  EXPECT_EQ(FormatIso8601Utc(At(kDec4Seconds, 5)), "2026-12-04T10:00:00.005Z");
  EXPECT_EQ(FormatIso8601Utc(At(0)), "1970-01-01T00:00:00Z");
  EXPECT_EQ(FormatIso8601Utc(At(-1)), "1969-12-31T23:59:59Z");
  EXPECT_EQ(FormatIso8601Utc(At(-1, 999)), "1969-12-31T23:59:59.999Z");
  EXPECT_EQ(FormatIso8601Utc(At(951782400)), "2000-02-29T00:00:00Z");
}

TEST(FormatIso8601UtcTest, TruncatesSubMillisecondsTowardsThePast) {
  const auto t = At(kDec4Seconds) + std::chrono::duration_cast<system_clock::duration>(
                                        std::chrono::microseconds(1999));
  EXPECT_EQ(FormatIso8601Utc(t), "2026-12-04T10:00:00.001Z");
  const auto before_epoch =
      At(0) - std::chrono::duration_cast<system_clock::duration>(std::chrono::microseconds(1));
  EXPECT_EQ(FormatIso8601Utc(before_epoch), "1969-12-31T23:59:59.999Z");
}

TEST(FormatIso8601UtcTest, RoundTripsThroughParseSince) {
  const auto now = At(0);
  // Every day over four centuries' worth of leap rules, sampled, plus assorted times of day.
  for (int64_t day = -40000; day < 100000; day += 37) {
    const auto t = At(day * 86400 + (day % 86400 + 86400) % 86400, (day % 1000 + 1000) % 1000);
    const std::string text = FormatIso8601Utc(t);
    TW_ASSERT_OK_AND_ASSIGN(const auto parsed, ParseSince(text, now));
    EXPECT_EQ(parsed, t) << text;
  }
}

}  // namespace
}  // namespace tw
