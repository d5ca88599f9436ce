#include "common/time_util.h"

#include <cstdint>
#include <cstdio>
#include <optional>

namespace tw {
namespace {

using std::chrono::milliseconds;
using std::chrono::system_clock;
using ClockDuration = system_clock::duration;

constexpr int64_t kMillisPerSecond = 1000;
constexpr int64_t kSecondsPerDay = 86400;
constexpr int64_t kMillisPerDay = kSecondsPerDay * kMillisPerSecond;

constexpr std::string_view kDurationUnits = "units: ms, s, m, h, d";

std::string Quote(std::string_view text) {
  std::string out = "\"";
  out.append(text);
  out += '"';
  return out;
}

Status DurationError(std::string_view text, std::string_view why) {
  std::string message = "invalid duration " + Quote(text) + ": ";
  message.append(why);
  return InvalidArgumentError(std::move(message));
}

bool IsDigit(char c) { return c >= '0' && c <= '9'; }

// Howard Hinnant's days_from_civil: days since 1970-01-01 in the proleptic Gregorian calendar.
// Done by hand because timegm() is non-standard and mktime() depends on the process's TZ.
int64_t DaysFromCivil(int64_t y, int64_t m, int64_t d) {
  y -= m <= 2 ? 1 : 0;
  const int64_t era = (y >= 0 ? y : y - 399) / 400;
  const int64_t yoe = y - era * 400;                                    // [0, 399]
  const int64_t doy = (153 * (m > 2 ? m - 3 : m + 9) + 2) / 5 + d - 1;  // [0, 365]
  const int64_t doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;            // [0, 146096]
  return era * 146097 + doe - 719468;
}

struct CivilDate {
  int64_t year;
  int month;
  int day;
};

// The inverse of DaysFromCivil, also after Howard Hinnant.
CivilDate CivilFromDays(int64_t z) {
  z += 719468;
  const int64_t era = (z >= 0 ? z : z - 146096) / 146097;
  const int64_t doe = z - era * 146097;
  const int64_t yoe = (doe - doe / 1460 + doe / 36524 - doe / 146096) / 365;
  const int64_t doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
  const int64_t mp = (5 * doy + 2) / 153;
  const int day = static_cast<int>(doy - (153 * mp + 2) / 5 + 1);
  const int month = static_cast<int>(mp < 10 ? mp + 3 : mp - 9);
  return {yoe + era * 400 + (month <= 2 ? 1 : 0), month, day};
}

bool IsLeapYear(int64_t y) { return y % 4 == 0 && (y % 100 != 0 || y % 400 == 0); }

int DaysInMonth(int64_t year, int month) {
  static constexpr int kDays[] = {31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31};
  return month == 2 && IsLeapYear(year) ? 29 : kDays[month - 1];
}

// A forward-only reader over the timestamp text; every Read* consumes only on success.
class Cursor {
 public:
  explicit Cursor(std::string_view text) : text_(text) {}

  bool AtEnd() const { return pos_ == text_.size(); }
  std::optional<char> Peek() const {
    if (AtEnd()) return std::nullopt;
    return text_[pos_];
  }
  bool Consume(char c) {
    if (AtEnd() || text_[pos_] != c) return false;
    ++pos_;
    return true;
  }
  // Exactly `n` decimal digits.
  std::optional<int> ReadDigits(int n) {
    if (text_.size() - pos_ < static_cast<size_t>(n)) return std::nullopt;
    int value = 0;
    for (int i = 0; i < n; ++i) {
      const char c = text_[pos_ + i];
      if (!IsDigit(c)) return std::nullopt;
      value = value * 10 + (c - '0');
    }
    pos_ += n;
    return value;
  }
  // 1 to 9 digits of a decimal fraction, scaled to nanoseconds.
  std::optional<int64_t> ReadFractionNanos() {
    int64_t nanos = 0;
    int digits = 0;
    while (!AtEnd() && IsDigit(text_[pos_])) {
      if (++digits > 9) return std::nullopt;
      nanos = nanos * 10 + (text_[pos_++] - '0');
    }
    if (digits == 0) return std::nullopt;
    for (int i = digits; i < 9; ++i) nanos *= 10;
    return nanos;
  }

 private:
  std::string_view text_;
  size_t pos_ = 0;
};

Status TimeSyntaxError(std::string_view text) {
  return InvalidArgumentError("invalid time " + Quote(text) +
                              ": expected ISO-8601 UTC (2026-12-04T10:00:00Z) or a duration such "
                              "as 12h or 7d");
}

Status TimeRangeError(std::string_view text, std::string_view field, int value,
                      std::string_view range) {
  std::string message = "invalid time " + Quote(text) + ": ";
  message.append(field);
  message += " " + std::to_string(value) + " is out of range (";
  message.append(range);
  message += ")";
  return InvalidArgumentError(std::move(message));
}

Status TimeNotRepresentableError(std::string_view text) {
  return InvalidArgumentError("invalid time " + Quote(text) +
                              ": outside the range of instants this program can represent");
}

// Builds a time_point from whole seconds plus nanoseconds since the epoch, failing instead of
// overflowing: system_clock often counts nanoseconds in int64, which only spans ~1678-2262.
std::optional<system_clock::time_point> MakeTimePoint(int64_t whole_seconds, int64_t nanos) {
  using std::chrono::duration_cast;
  using std::chrono::nanoseconds;
  using std::chrono::seconds;
  // One second of margin on each side so adding the sub-second part cannot overflow.
  constexpr int64_t kMaxSeconds = duration_cast<seconds>(ClockDuration::max()).count() - 1;
  constexpr int64_t kMinSeconds = duration_cast<seconds>(ClockDuration::min()).count() + 1;
  if (whole_seconds > kMaxSeconds || whole_seconds < kMinSeconds) return std::nullopt;
  const ClockDuration since_epoch = duration_cast<ClockDuration>(seconds(whole_seconds)) +
                                    duration_cast<ClockDuration>(nanoseconds(nanos));
  return system_clock::time_point(since_epoch);
}

StatusOr<system_clock::time_point> ParseTimestamp(std::string_view text) {
  Cursor in(text);
  std::optional<int> year = in.ReadDigits(4);
  if (!year || !in.Consume('-')) return TimeSyntaxError(text);
  std::optional<int> month = in.ReadDigits(2);
  if (!month || !in.Consume('-')) return TimeSyntaxError(text);
  std::optional<int> day = in.ReadDigits(2);
  if (!day) return TimeSyntaxError(text);

  int hour = 0, minute = 0, second = 0;
  int64_t nanos = 0;
  int offset_seconds = 0;  // local time minus UTC
  if (!in.AtEnd()) {
    if (!in.Consume('T') && !in.Consume('t') && !in.Consume(' ')) return TimeSyntaxError(text);
    std::optional<int> h = in.ReadDigits(2);
    if (!h || !in.Consume(':')) return TimeSyntaxError(text);
    std::optional<int> m = in.ReadDigits(2);
    if (!m) return TimeSyntaxError(text);
    hour = *h;
    minute = *m;
    if (in.Consume(':')) {
      std::optional<int> s = in.ReadDigits(2);
      if (!s) return TimeSyntaxError(text);
      second = *s;
      if (in.Consume('.')) {
        std::optional<int64_t> f = in.ReadFractionNanos();
        if (!f) return TimeSyntaxError(text);
        nanos = *f;
      }
    }
    const std::optional<char> zone = in.Peek();
    if (zone == 'Z' || zone == 'z') {
      in.Consume(*zone);
    } else if (zone == '+' || zone == '-') {
      in.Consume(*zone);
      std::optional<int> oh = in.ReadDigits(2);
      if (!oh) return TimeSyntaxError(text);
      int om_value = 0;
      if (!in.AtEnd()) {
        in.Consume(':');  // both +05:30 and +0530 are ISO-8601
        std::optional<int> om = in.ReadDigits(2);
        if (!om) return TimeSyntaxError(text);
        om_value = *om;
      }
      if (*oh >= 24) return TimeRangeError(text, "UTC offset hour", *oh, "0-23");
      if (om_value >= 60) return TimeRangeError(text, "UTC offset minute", om_value, "0-59");
      offset_seconds = (*oh * 3600 + om_value * 60) * (*zone == '-' ? -1 : 1);
    }
    if (!in.AtEnd()) return TimeSyntaxError(text);
  }

  if (*month < 1 || *month > 12) return TimeRangeError(text, "month", *month, "1-12");
  const int days_in_month = DaysInMonth(*year, *month);
  if (*day < 1 || *day > days_in_month) {
    return TimeRangeError(text, "day", *day, "1-" + std::to_string(days_in_month));
  }
  if (hour >= 24) return TimeRangeError(text, "hour", hour, "0-23");
  if (minute >= 60) return TimeRangeError(text, "minute", minute, "0-59");
  if (second >= 60) return TimeRangeError(text, "second", second, "0-59");

  const int64_t seconds = DaysFromCivil(*year, *month, *day) * kSecondsPerDay + hour * 3600 +
                          minute * 60 + second - offset_seconds;
  std::optional<system_clock::time_point> t = MakeTimePoint(seconds, nanos);
  if (!t) return TimeNotRepresentableError(text);
  return *t;
}

enum class DurationProblem { kNone, kSyntax, kNegative, kOrder, kOverflow };

// The duration grammar, shared by ParseDuration and ParseSince, which word their errors
// differently.
DurationProblem ParseDurationRaw(std::string_view text, int64_t* millis) {
  if (text.empty()) return DurationProblem::kSyntax;
  if (text[0] == '-') return DurationProblem::kNegative;
  struct Unit {
    std::string_view name;
    int64_t millis;
  };
  // Largest first: the index is the unit's rank for the ordering rule.
  static constexpr Unit kUnits[] = {{"d", kMillisPerDay},
                                    {"h", 3600 * kMillisPerSecond},
                                    {"m", 60 * kMillisPerSecond},
                                    {"s", kMillisPerSecond},
                                    {"ms", 1}};
  constexpr size_t kNumUnits = sizeof(kUnits) / sizeof(kUnits[0]);

  int64_t total = 0;
  size_t next_allowed_unit = 0;  // index into kUnits
  size_t pos = 0;
  while (pos < text.size()) {
    if (!IsDigit(text[pos])) return DurationProblem::kSyntax;
    int64_t number = 0;
    while (pos < text.size() && IsDigit(text[pos])) {
      if (__builtin_mul_overflow(number, 10, &number) ||
          __builtin_add_overflow(number, text[pos] - '0', &number)) {
        return DurationProblem::kOverflow;
      }
      ++pos;
    }
    // "ms" is tried first because "m" is its prefix.
    std::optional<size_t> unit;
    if (text.substr(pos, 2) == "ms") {
      unit = kNumUnits - 1;
    } else if (pos < text.size()) {
      for (size_t i = 0; i + 1 < kNumUnits; ++i) {
        if (text[pos] == kUnits[i].name[0]) unit = i;
      }
    }
    if (!unit) return DurationProblem::kSyntax;
    pos += kUnits[*unit].name.size();
    // Rejecting "30m5m" or "30s1h" catches typos instead of silently adding the parts up.
    if (*unit < next_allowed_unit) return DurationProblem::kOrder;
    next_allowed_unit = *unit + 1;
    int64_t part = 0;
    if (__builtin_mul_overflow(number, kUnits[*unit].millis, &part) ||
        __builtin_add_overflow(total, part, &total)) {
      return DurationProblem::kOverflow;
    }
  }
  *millis = total;
  return DurationProblem::kNone;
}

std::string DurationProblemText(DurationProblem problem) {
  switch (problem) {
    case DurationProblem::kNone:
      return "";
    case DurationProblem::kSyntax:
      return "expected <integer><unit> groups such as 500ms, 30s, 5m, 2h, 1d or 1h30m (" +
             std::string(kDurationUnits) + ")";
    case DurationProblem::kNegative:
      return "durations cannot be negative (" + std::string(kDurationUnits) + ")";
    case DurationProblem::kOrder:
      return "units must go from largest to smallest, each at most once, as in 1h30m (" +
             std::string(kDurationUnits) + ")";
    case DurationProblem::kOverflow:
      return "too large (" + std::string(kDurationUnits) + ")";
  }
  return "";
}

}  // namespace

StatusOr<milliseconds> ParseDuration(std::string_view text) {
  int64_t millis = 0;
  const DurationProblem problem = ParseDurationRaw(text, &millis);
  if (problem != DurationProblem::kNone) return DurationError(text, DurationProblemText(problem));
  return milliseconds(millis);
}

StatusOr<system_clock::time_point> ParseSince(std::string_view text, system_clock::time_point now) {
  // A timestamp always starts "YYYY-"; anything else can only be a duration.
  const bool looks_like_date = text.size() >= 5 && IsDigit(text[0]) && IsDigit(text[1]) &&
                               IsDigit(text[2]) && IsDigit(text[3]) && text[4] == '-';
  if (looks_like_date) return ParseTimestamp(text);

  int64_t ago_millis = 0;
  const DurationProblem problem = ParseDurationRaw(text, &ago_millis);
  if (problem == DurationProblem::kOrder || problem == DurationProblem::kOverflow) {
    // Clearly meant as a duration: the specific complaint helps more than the generic one.
    return InvalidArgumentError("invalid time " + Quote(text) + ": " +
                                DurationProblemText(problem));
  }
  if (problem != DurationProblem::kNone) return TimeSyntaxError(text);
  const milliseconds ago(ago_millis);
  constexpr milliseconds kMaxAgo = std::chrono::duration_cast<milliseconds>(ClockDuration::max());
  if (ago > kMaxAgo) return TimeNotRepresentableError(text);
  const ClockDuration::rep ago_ticks = std::chrono::duration_cast<ClockDuration>(ago).count();
  ClockDuration::rep ticks = 0;
  if (__builtin_sub_overflow(now.time_since_epoch().count(), ago_ticks, &ticks)) {
    return TimeNotRepresentableError(text);
  }
  return system_clock::time_point(ClockDuration(ticks));
}

std::string FormatIso8601Utc(system_clock::time_point t) {
  const int64_t millis = std::chrono::floor<milliseconds>(t.time_since_epoch()).count();
  // Floor division so instants before 1970 land on the right day.
  int64_t days = millis / kMillisPerDay;
  int64_t millis_of_day = millis % kMillisPerDay;
  if (millis_of_day < 0) {
    millis_of_day += kMillisPerDay;
    --days;
  }
  const CivilDate date = CivilFromDays(days);
  const int64_t seconds_of_day = millis_of_day / kMillisPerSecond;
  const int ms = static_cast<int>(millis_of_day % kMillisPerSecond);
  char buf[64];
  int n = std::snprintf(
      buf, sizeof(buf), "%04lld-%02d-%02dT%02d:%02d:%02d", static_cast<long long>(date.year),
      date.month, date.day, static_cast<int>(seconds_of_day / 3600),
      static_cast<int>(seconds_of_day / 60 % 60), static_cast<int>(seconds_of_day % 60));
  std::string out(buf, static_cast<size_t>(n));
  if (ms != 0) {
    n = std::snprintf(buf, sizeof(buf), ".%03d", ms);
    out.append(buf, static_cast<size_t>(n));
  }
  out += 'Z';
  return out;
}

}  // namespace tw
