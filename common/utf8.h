// UTF-8 validation for text from outside (CSV files, JSON, names).
#pragma once

#include <cstddef>
#include <string>
#include <string_view>

namespace tw {

// Length of the well-formed UTF-8 sequence starting at s[i] (1-4), or 0 when it is ill-formed.
// Well-formed per RFC 3629 / Unicode Table 3-7: no overlong forms, no surrogates, <= U+10FFFF
// (what PostgreSQL accepts too). Precondition: i < s.size().
size_t Utf8SequenceLength(std::string_view s, size_t i);

// Offset of the first byte that does not start a well-formed sequence, or npos when `s` is
// valid UTF-8.
size_t FindInvalidUtf8(std::string_view s);

// At most `max` bytes (max >= 3), cut at a character boundary, ending in "..." when cut.
std::string TruncateUtf8(const std::string& text, size_t max);

}  // namespace tw
