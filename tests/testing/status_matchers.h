// gtest helpers for Status and StatusOr, after Abseil's status_matchers.h. There is deliberately
// no EXPECT_NOT_OK: assert the specific error you expect with StatusIs.
#pragma once

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include "common/status.h"

namespace tw::testing {

inline const Status& GetStatus(const Status& status) { return status; }
template <typename T>
const Status& GetStatus(const StatusOr<T>& status_or) {
  return status_or.status();
}

// EXPECT_THAT(DoIt(), StatusIs(StatusCode::kNotFound, HasSubstr("dataset")));
MATCHER_P2(StatusIs, code, message_matcher, "") {
  const Status& status = GetStatus(arg);
  if (status.code() != code) {
    *result_listener << "whose status is " << status.ToString();
    return false;
  }
  return ::testing::ExplainMatchResult(message_matcher, status.message(), result_listener);
}

}  // namespace tw::testing

// The status is copied: `expr` may be a temporary StatusOr.
#define TW_EXPECT_OK(expr)                                               \
  do {                                                                   \
    const ::tw::Status tw_s_ = ::tw::testing::GetStatus(expr);           \
    EXPECT_TRUE(tw_s_.ok()) << #expr << " failed: " << tw_s_.ToString(); \
  } while (false)

#define TW_ASSERT_OK(expr)                                               \
  do {                                                                   \
    const ::tw::Status tw_s_ = ::tw::testing::GetStatus(expr);           \
    ASSERT_TRUE(tw_s_.ok()) << #expr << " failed: " << tw_s_.ToString(); \
  } while (false)

// TW_ASSERT_OK_AND_ASSIGN(auto rows, store.ListModels());
#define TW_ASSERT_OK_AND_ASSIGN(lhs, expr) \
  TW_ASSERT_OK_AND_ASSIGN_IMPL_(TW_STATUS_CONCAT_(tw_test_statusor_, __LINE__), lhs, expr)
#define TW_ASSERT_OK_AND_ASSIGN_IMPL_(tmp, lhs, expr)                       \
  auto tmp = (expr);                                                        \
  ASSERT_TRUE(tmp.ok()) << #expr << " failed: " << tmp.status().ToString(); \
  lhs = std::move(tmp).value()
