// Durations ("30s", "1h30m") and instants ("2026-12-04T10:00:00Z", "12h" ago) as users type them in
// config files and CLI flags, and the canonical way we print instants.
//
// Nothing here reads the real clock or the process's time zone: "now" is always injected and every
// timestamp is UTC, so results do not depend on where or when the program runs (hermetic tests).
#pragma once

#include <chrono>
#include <string>
#include <string_view>

#include "common/status.h"

namespace tw {

// Parses a non-negative duration: one or more <integer><unit> groups, units ms, s, m, h, d
// (d = 24h), largest unit first and each unit at most once ("500ms", "30s", "1h30m", "1d12h").
// No sign, spaces or fractions; "0s" is fine, a bare "0" is not (the unit is required).
// Errors: InvalidArgumentError quoting the text and listing the units; overflow of the
// millisecond count is an error too.
StatusOr<std::chrono::milliseconds> ParseDuration(std::string_view text);

// Parses a --since style argument relative to `now`:
//   - a duration as accepted by ParseDuration, meaning `now - duration` ("12h", "7d"), or
//   - an ISO-8601 timestamp: "2026-12-04" (midnight UTC), "2026-12-04T10:00", "...T10:00:00",
//     optional fraction ".123" (1-9 digits), 'T' or ' ' between date and time, and an optional
//     zone "Z", "+05:30", "-0800" or "+05" (converted to UTC). No zone means UTC.
// Field ranges are checked (month 1-12, day within the month including leap years, hour < 24,
// minute < 60, second < 60, offset < 24h). Errors are InvalidArgumentError; a result outside what
// std::chrono::system_clock can represent is an InvalidArgumentError too.
StatusOr<std::chrono::system_clock::time_point> ParseSince(
    std::string_view text, std::chrono::system_clock::time_point now);

// Formats `t` as "2026-12-04T10:00:00Z", or "2026-12-04T10:00:00.123Z" when the millisecond part is
// non-zero. Sub-millisecond precision is truncated (towards the past).
std::string FormatIso8601Utc(std::chrono::system_clock::time_point t);

}  // namespace tw
