#include "notify/retry.h"

#include <time.h>

#include <array>
#include <cctype>
#include <string>

namespace tw::notify {

using std::chrono::hours;
using std::chrono::minutes;
using std::chrono::seconds;

std::optional<seconds> NextDelay(int attempts_made, std::optional<seconds> retry_after) {
  // Delay before attempt k+1, indexed by k = attempts made.
  static const std::array<seconds, kMaxAttempts> kSchedule = {
      seconds(0), seconds(5), minutes(5), minutes(30), hours(2), hours(5), hours(10), hours(10)};
  if (attempts_made < 0) attempts_made = 0;
  if (attempts_made >= kMaxAttempts) return std::nullopt;
  seconds delay = kSchedule[static_cast<size_t>(attempts_made)];
  if (retry_after && *retry_after > delay) delay = std::min(*retry_after, kMaxRetryDelay);
  return delay;
}

std::optional<seconds> ParseRetryAfter(std::string_view header, WallTime now) {
  while (!header.empty() && (header.front() == ' ' || header.front() == '\t')) {
    header.remove_prefix(1);
  }
  while (!header.empty() && (header.back() == ' ' || header.back() == '\t')) {
    header.remove_suffix(1);
  }
  if (header.empty() || header.size() > 64) return std::nullopt;
  bool all_digits = true;
  for (char c : header) all_digits = all_digits && std::isdigit(static_cast<unsigned char>(c));
  if (all_digits) {
    // Anything past a year is as good as "too long": NextDelay caps it anyway.
    if (header.size() > 9) return seconds(999'999'999);
    return seconds(std::stoll(std::string(header)));
  }
  std::string text(header);
  // IMF-fixdate, obsolete RFC 850, asctime (RFC 9110 5.6.7).
  for (const char* format :
       {"%a, %d %b %Y %H:%M:%S GMT", "%A, %d-%b-%y %H:%M:%S GMT", "%a %b %d %H:%M:%S %Y"}) {
    struct tm tm = {};
    const char* end = strptime(text.c_str(), format, &tm);
    if (end == nullptr || *end != '\0') continue;
    time_t when = timegm(&tm);
    if (when == static_cast<time_t>(-1)) return std::nullopt;
    auto delta =
        std::chrono::duration_cast<seconds>(std::chrono::system_clock::from_time_t(when) - now);
    return delta.count() < 0 ? seconds(0) : delta;
  }
  return std::nullopt;
}

DeliveryOutcome ClassifyStatus(int http_status) {
  return http_status >= 200 && http_status <= 299 ? DeliveryOutcome::kDelivered
                                                  : DeliveryOutcome::kRetry;
}

}  // namespace tw::notify
