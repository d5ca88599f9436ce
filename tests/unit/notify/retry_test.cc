#include "notify/retry.h"

#include <gtest/gtest.h>

namespace tw::notify {
namespace {

using std::chrono::hours;
using std::chrono::minutes;
using std::chrono::seconds;

TEST(NextDelayTest, FollowsTheSvixScheduleThenDeadLetters) {
  EXPECT_EQ(NextDelay(0, std::nullopt), seconds(0));
  EXPECT_EQ(NextDelay(1, std::nullopt), seconds(5));
  EXPECT_EQ(NextDelay(2, std::nullopt), minutes(5));
  EXPECT_EQ(NextDelay(3, std::nullopt), minutes(30));
  EXPECT_EQ(NextDelay(4, std::nullopt), hours(2));
  EXPECT_EQ(NextDelay(5, std::nullopt), hours(5));
  EXPECT_EQ(NextDelay(6, std::nullopt), hours(10));
  EXPECT_EQ(NextDelay(7, std::nullopt), hours(10));
  EXPECT_EQ(NextDelay(8, std::nullopt), std::nullopt);
  EXPECT_EQ(NextDelay(100, std::nullopt), std::nullopt);
  EXPECT_EQ(NextDelay(-1, std::nullopt), seconds(0));
}

TEST(NextDelayTest, RetryAfterOnlyLengthensAndIsCapped) {
  EXPECT_EQ(NextDelay(1, seconds(7)), seconds(7));
  EXPECT_EQ(NextDelay(1, seconds(2)), seconds(5));
  EXPECT_EQ(NextDelay(2, seconds(60)), minutes(5));
  EXPECT_EQ(NextDelay(1, hours(48)), hours(10));
  EXPECT_EQ(NextDelay(8, seconds(7)), std::nullopt);  // never revives a dead letter
}

TEST(ParseRetryAfterTest, DeltaSeconds) {
  WallTime now = std::chrono::system_clock::from_time_t(1'700'000'000);
  EXPECT_EQ(ParseRetryAfter("7", now), seconds(7));
  EXPECT_EQ(ParseRetryAfter(" 120 ", now), seconds(120));
  EXPECT_EQ(ParseRetryAfter("0", now), seconds(0));
  EXPECT_EQ(ParseRetryAfter("99999999999999999999", now), seconds(999'999'999));
  EXPECT_EQ(ParseRetryAfter("", now), std::nullopt);
  EXPECT_EQ(ParseRetryAfter("-5", now), std::nullopt);
  EXPECT_EQ(ParseRetryAfter("1.5", now), std::nullopt);
  EXPECT_EQ(ParseRetryAfter("soon", now), std::nullopt);
}

TEST(ParseRetryAfterTest, HttpDates) {
  // 784111777 = Sun, 06 Nov 1994 08:49:37 GMT (RFC 9110's example).
  WallTime now = std::chrono::system_clock::from_time_t(784'111'777 - 30);
  EXPECT_EQ(ParseRetryAfter("Sun, 06 Nov 1994 08:49:37 GMT", now), seconds(30));
  EXPECT_EQ(ParseRetryAfter("Sunday, 06-Nov-94 08:49:37 GMT", now), seconds(30));
  EXPECT_EQ(ParseRetryAfter("Sun Nov  6 08:49:37 1994", now), seconds(30));
  WallTime later = std::chrono::system_clock::from_time_t(784'111'777 + 300);
  EXPECT_EQ(ParseRetryAfter("Sun, 06 Nov 1994 08:49:37 GMT", later), seconds(0));
  EXPECT_EQ(ParseRetryAfter("Sun, 06 Nov 1994 08:49:37 GMT trailing", now), std::nullopt);
  EXPECT_EQ(ParseRetryAfter("Sun, 06 Foo 1994 08:49:37 GMT", now), std::nullopt);
}

TEST(ClassifyStatusTest, OnlyTwoHundredsAreDelivered) {
  for (int s : {200, 201, 202, 204, 299}) EXPECT_EQ(ClassifyStatus(s), DeliveryOutcome::kDelivered);
  for (int s : {0, 100, 199, 300, 301, 302, 307, 308, 400, 401, 404, 410, 429, 500, 502, 503, 504})
    EXPECT_EQ(ClassifyStatus(s), DeliveryOutcome::kRetry) << s;
}

}  // namespace
}  // namespace tw::notify
