// The text-level pieces every chart shares: XML escaping of outside text, deterministic number
// formatting, and "nice" axis ticks. Pure functions: no I/O, no locale, no state.
#pragma once

#include <string>
#include <string_view>
#include <vector>

namespace tw::plots {

// `text` made safe for XML (and HTML) text and for attribute values in either kind of quotes:
// & < > " ' become entities; bytes that are not well-formed UTF-8 and control characters other
// than tab, newline and carriage return (which XML 1.0 forbids even as references) become
// U+FFFD. Names come from users (run folders, dataset names), so every label goes through here.
std::string XmlEscape(std::string_view text);

// Shortest decimal text that reads back as the same double ("80.5", "2000", "1e-07"); "nan",
// "inf" and "-inf" for the non-finite. For data-* attributes: a test reading a value back gets
// the exact number. Independent of the C locale.
std::string FormatValue(double value);

// `value` with exactly `decimals` digits after the point (0..9), as a coordinate or a tick label;
// "-0.00" is written "0.00". Non-finite values give "0" (callers drop them before drawing).
std::string FormatFixed(double value, int decimals);

struct Ticks {
  double lo = 0;               // the axis starts here (a multiple of step, <= the data's minimum)
  double hi = 1;               // and ends here (a multiple of step, >= the data's maximum)
  double step = 1;             // 1, 2 or 5 times a power of ten
  int decimals = 0;            // digits after the point that show every tick exactly
  std::vector<double> values;  // lo, lo + step, ..., hi
};

// Ticks covering [lo, hi] with about `target` intervals (at least 3 ticks, at most about
// 1.5 * target + 3), each tick an integer multiple of a 1-2-5 step so labels stay short (after
// Heckbert's "nice numbers"). A single value (lo == hi) gets a range around it; non-finite or
// reversed bounds are swapped or replaced by [0, 1]. Deterministic: ticks are computed as k * step
// from integers.
Ticks NiceTicks(double lo, double hi, int target = 5);

}  // namespace tw::plots
