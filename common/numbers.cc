#include "common/numbers.h"

#include <charconv>
#include <limits>
#include <string>
#include <system_error>

namespace tw {
namespace {

// Longer texts are cut in messages: a CSV cell can be megabytes of garbage.
constexpr size_t kMaxQuotedLength = 64;
constexpr char kHexDigits[] = "0123456789abcdef";

// `"text"` with quotes, backslashes and non-printable ASCII escaped, so that the message stays
// one readable line whatever the input held.
std::string Quote(std::string_view text) {
  std::string out = "\"";
  const bool truncated = text.size() > kMaxQuotedLength;
  if (truncated) text = text.substr(0, kMaxQuotedLength);
  for (const char ch : text) {
    const auto c = static_cast<unsigned char>(ch);
    if (c == '"' || c == '\\') {
      out.push_back('\\');
      out.push_back(ch);
    } else if (c < 0x20 || c == 0x7f) {
      out.append("\\x");
      out.push_back(kHexDigits[c >> 4]);
      out.push_back(kHexDigits[c & 0xf]);
    } else {
      out.push_back(ch);
    }
  }
  out.append(truncated ? "\"..." : "\"");
  return out;
}

Status NotANumber(std::string_view text) {
  return InvalidArgumentError("not a number: " + Quote(text));
}

Status NotAnInteger(std::string_view text) {
  return InvalidArgumentError("not an integer: " + Quote(text));
}

bool IsDigit(char c) { return c >= '0' && c <= '9'; }

// Advances *i over one or more digits; false when there are none.
bool ConsumeDigits(std::string_view s, size_t* i) {
  const size_t start = *i;
  while (*i < s.size() && IsDigit(s[*i])) ++*i;
  return *i > start;
}

// True when `s` is exactly [+-]?DIGITS(.DIGITS)?([eE][+-]?DIGITS)?. Checked by hand because
// from_chars also takes "inf", "nan", "1." and stops early instead of failing.
bool IsDecimalSyntax(std::string_view s) {
  size_t i = 0;
  if (i < s.size() && (s[i] == '+' || s[i] == '-')) ++i;
  if (!ConsumeDigits(s, &i)) return false;
  if (i < s.size() && s[i] == '.') {
    ++i;
    if (!ConsumeDigits(s, &i)) return false;
  }
  if (i < s.size() && (s[i] == 'e' || s[i] == 'E')) {
    ++i;
    if (i < s.size() && (s[i] == '+' || s[i] == '-')) ++i;
    if (!ConsumeDigits(s, &i)) return false;
  }
  return i == s.size();
}

// Parses `digits`, already known to match IsDecimalSyntax; `original` is for messages.
StatusOr<double> ParseCheckedDecimal(std::string_view digits, std::string_view original) {
  if (digits[0] == '+') digits.remove_prefix(1);  // from_chars takes '-' but not '+'.
  double value = 0;
  const auto [ptr, ec] = std::from_chars(digits.data(), digits.data() + digits.size(), value);
  if (ec == std::errc::result_out_of_range) {
    return InvalidArgumentError("number out of range: " + Quote(original));
  }
  if (ec != std::errc() || ptr != digits.data() + digits.size()) return NotANumber(original);
  return value;
}

template <typename Int>
StatusOr<Int> ParseInteger(std::string_view text) {
  size_t i = (!text.empty() && (text[0] == '+' || text[0] == '-')) ? 1 : 0;
  if (!ConsumeDigits(text, &i) || i != text.size()) return NotAnInteger(text);
  // from_chars takes '-' but not '+'.
  const std::string_view digits = text[0] == '+' ? text.substr(1) : text;
  Int value = 0;
  const auto [ptr, ec] = std::from_chars(digits.data(), digits.data() + digits.size(), value);
  if (ec == std::errc::result_out_of_range) {
    return InvalidArgumentError("integer out of range: " + Quote(text));
  }
  if (ec != std::errc() || ptr != digits.data() + digits.size()) return NotAnInteger(text);
  return value;
}

}  // namespace

StatusOr<double> ParseDecimal(std::string_view text) {
  if (!IsDecimalSyntax(text)) return NotANumber(text);
  return ParseCheckedDecimal(text, text);
}

StatusOr<double> ParseGroupedDecimal(std::string_view text) {
  size_t i = 0;
  if (i < text.size() && (text[i] == '+' || text[i] == '-')) ++i;
  size_t int_end = i;
  while (int_end < text.size() && (IsDigit(text[int_end]) || text[int_end] == ',')) ++int_end;
  const std::string_view int_part = text.substr(i, int_end - i);
  if (int_part.find(',') == std::string_view::npos) return ParseDecimal(text);

  // Groups: 1-3 digits first, then exactly 3 after every comma.
  size_t group_start = 0;
  bool first_group = true;
  while (true) {
    const size_t comma = int_part.find(',', group_start);
    const size_t len = (comma == std::string_view::npos ? int_part.size() : comma) - group_start;
    if (first_group ? (len < 1 || len > 3) : len != 3) return NotANumber(text);
    if (comma == std::string_view::npos) break;
    group_start = comma + 1;
    first_group = false;
  }
  std::string stripped(text.substr(0, i));
  for (const char c : int_part) {
    if (c != ',') stripped.push_back(c);
  }
  stripped.append(text.substr(int_end));
  if (!IsDecimalSyntax(stripped)) return NotANumber(text);
  return ParseCheckedDecimal(stripped, text);
}

StatusOr<int64_t> ParseInt64(std::string_view text) { return ParseInteger<int64_t>(text); }

StatusOr<int> ParseInt(std::string_view text) { return ParseInteger<int>(text); }

}  // namespace tw
