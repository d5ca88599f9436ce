#include "plots/svg.h"

#include <algorithm>
#include <charconv>
#include <cmath>
#include <utility>

#include "common/utf8.h"

namespace tw::plots {
namespace {

constexpr std::string_view kReplacement = "\xEF\xBF\xBD";  // U+FFFD

// (mantissa, exponent) of the 1, 2, 5 or 10 times a power of ten nearest to `x` (x > 0), on a
// log-ish scale: 1.5 and 3 and 7 are the borders.
std::pair<int, int> NiceNumber(double x) {
  int exponent = static_cast<int>(std::floor(std::log10(x)));
  const double fraction = x / std::pow(10.0, exponent);
  int nice = fraction < 1.5 ? 1 : fraction < 3 ? 2 : fraction < 7 ? 5 : 10;
  if (nice == 10) {
    nice = 1;
    ++exponent;
  }
  return {nice, exponent};
}

// k * mantissa * 10^exponent, computed so that decimal ticks come out as the nearest double to
// the decimal (0.3, not 0.30000000000000004).
double TickValue(long long k, int mantissa, int exponent) {
  const double units = static_cast<double>(k) * mantissa;
  return exponent >= 0 ? units * std::pow(10.0, exponent) : units / std::pow(10.0, -exponent);
}

}  // namespace

std::string XmlEscape(std::string_view text) {
  std::string out;
  out.reserve(text.size() + text.size() / 8);
  size_t i = 0;
  while (i < text.size()) {
    const size_t length = Utf8SequenceLength(text, i);
    if (length == 0) {
      out += kReplacement;
      ++i;
      continue;
    }
    if (length > 1) {
      // U+FFFE and U+FFFF are not XML characters either.
      const std::string_view sequence = text.substr(i, length);
      if (sequence == "\xEF\xBF\xBE" || sequence == "\xEF\xBF\xBF") {
        out += kReplacement;
      } else {
        out += sequence;
      }
      i += length;
      continue;
    }
    const char c = text[i++];
    switch (c) {
      case '&':
        out += "&amp;";
        break;
      case '<':
        out += "&lt;";
        break;
      case '>':
        out += "&gt;";
        break;
      case '"':
        out += "&quot;";
        break;
      case '\'':
        out += "&#39;";
        break;
      default:
        if (static_cast<unsigned char>(c) < 0x20 && c != '\t' && c != '\n' && c != '\r') {
          out += kReplacement;
        } else if (c == 0x7f) {
          out += kReplacement;
        } else {
          out += c;
        }
    }
  }
  return out;
}

std::string FormatValue(double value) {
  if (std::isnan(value)) return "nan";
  if (std::isinf(value)) return value > 0 ? "inf" : "-inf";
  char buffer[64];
  const auto result = std::to_chars(buffer, buffer + sizeof buffer, value);
  return std::string(buffer, result.ptr);
}

std::string FormatFixed(double value, int decimals) {
  if (!std::isfinite(value)) return "0";
  decimals = std::clamp(decimals, 0, 9);
  char buffer[64];
  const auto result =
      std::to_chars(buffer, buffer + sizeof buffer, value, std::chars_format::fixed, decimals);
  if (result.ec != std::errc()) return "0";
  std::string text(buffer, result.ptr);
  // "-0.00": the sign of a value that rounds to zero is noise.
  if (text.front() == '-' && text.find_first_not_of("-0.") == std::string::npos) text.erase(0, 1);
  return text;
}

Ticks NiceTicks(double lo, double hi, int target) {
  if (!std::isfinite(lo) && !std::isfinite(hi)) {
    lo = 0;
    hi = 1;
  } else if (!std::isfinite(lo)) {
    lo = hi;
  } else if (!std::isfinite(hi)) {
    hi = lo;
  }
  if (lo > hi) std::swap(lo, hi);
  const double magnitude = std::max(std::abs(lo), std::abs(hi));
  if (hi - lo <= magnitude * 1e-12) {
    // One value: a small range around it (2% of its size, or 1 around zero).
    const double pad = magnitude == 0 ? 1 : magnitude * 0.02;
    lo -= pad;
    hi += pad;
  }
  target = std::clamp(target, 2, 50);
  // The step straight from the range (Heckbert rounds the range first, which can add a whole
  // empty interval: 0..12000 would get 0..15000 by 5000).
  const auto [mantissa, exponent] = NiceNumber((hi - lo) / target);
  const double step = TickValue(1, mantissa, exponent);
  // A tolerance of a millionth of a step keeps 80.0000000001 from opening another interval.
  const long long k_lo = static_cast<long long>(std::floor(lo / step + 1e-6));
  const long long k_hi = static_cast<long long>(std::ceil(hi / step - 1e-6));
  Ticks ticks;
  ticks.step = step;
  ticks.decimals = std::max(0, -exponent);
  for (long long k = k_lo; k <= std::max(k_hi, k_lo + 1); ++k) {
    ticks.values.push_back(TickValue(k, mantissa, exponent));
  }
  ticks.lo = ticks.values.front();
  ticks.hi = ticks.values.back();
  return ticks;
}

}  // namespace tw::plots
