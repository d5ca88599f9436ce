// The retry schedule and how an HTTP answer is judged.
//
// Schedule (Svix, https://docs.svix.com/retries): attempt 1 immediately, then after 5 s, 5 min,
// 30 min, 2 h, 5 h, 10 h, 10 h; eight attempts in all, then the message is dead-lettered.
// Pure functions; thread-safe.
#pragma once

#include <chrono>
#include <optional>
#include <string_view>

#include "common/clock.h"

namespace tw::notify {

// The most a Retry-After can push an attempt back, and the longest scheduled delay.
inline constexpr std::chrono::seconds kMaxRetryDelay = std::chrono::hours(10);
// Attempts in the schedule, the first one included.
inline constexpr int kMaxAttempts = 8;

// How long to wait before the next attempt after `attempts_made` attempts (0: none yet, send
// now). nullopt when the schedule is exhausted: dead-letter the message. A Retry-After
// (from the last answer) is honoured when it is longer than the scheduled delay, capped at
// kMaxRetryDelay; it never revives an exhausted schedule.
std::optional<std::chrono::seconds> NextDelay(int attempts_made,
                                              std::optional<std::chrono::seconds> retry_after);

// A Retry-After header (RFC 9110 10.2.3): delta-seconds ("120") or an HTTP-date
// ("Sun, 06 Nov 1994 08:49:37 GMT"; the obsolete RFC 850 and asctime forms too). A date in the
// past gives 0 s. nullopt when the header is empty or malformed (then it is ignored).
std::optional<std::chrono::seconds> ParseRetryAfter(std::string_view header, WallTime now);

enum class DeliveryOutcome { kDelivered, kRetry };

// 2xx is delivered; everything else is retried on the schedule, including
//  - 3xx: redirects are never followed (a redirect can point at an internal address, and the
//    Standard Webhooks spec counts them as failures),
//  - 410 Gone: the spec suggests disabling the endpoint; we leave that to an operator (the
//    dead-letter after the schedule is visible), so it is retried like any failure,
//  - 429 and 5xx: retried, with Retry-After honoured by NextDelay,
//  - 0 (no HTTP answer at all: connect failure, timeout, SSRF refusal).
DeliveryOutcome ClassifyStatus(int http_status);

}  // namespace tw::notify
