// Strict parsing of numbers that come from outside text (CSV cells, flags, config values).
// Every function accepts the whole text or fails; there are no partial parses, no surrounding
// whitespace, no hex, no "inf"/"nan". Errors are InvalidArgument and quote the text
// (e.g. `not a number: "abc"`).
//
// Thread safety: all functions are thread-safe.
#pragma once

#include <cstdint>
#include <string_view>

#include "common/status.h"

namespace tw {

// Parses [+-]?DIGITS(.DIGITS)?([eE][+-]?DIGITS)? ("1", "-0.5", "+2.5e-3"; not ".5", "5.",
// "1e"). Fails when the value overflows or underflows to zero, since either would silently
// change the number written.
StatusOr<double> ParseDecimal(std::string_view text);

// As ParseDecimal, but the integer part may also use ',' thousands separators in well-formed
// groups of three ("1,013.01", "12,345,678"; not "1,01.5", ",100", "1,,000", "1000,000").
StatusOr<double> ParseGroupedDecimal(std::string_view text);

// Parses [+-]?DIGITS into an int64_t; fails when out of range.
StatusOr<int64_t> ParseInt64(std::string_view text);

// Parses [+-]?DIGITS into an int; fails when out of range.
StatusOr<int> ParseInt(std::string_view text);

}  // namespace tw
