// Canonical JSON: exactly one byte sequence per JSON value, so equal configs hash equally.
// The rules (close to RFC 8785 JCS, with documented differences) are in docs/canonical-json.md.
//
// Thread safety: all functions are thread-safe.
#pragma once

#include <nlohmann/json.hpp>
#include <string>
#include <string_view>

#include "common/status.h"

namespace tw {

// Bumped whenever the canonical form or the hashed preamble changes; stored next to hashes so
// that a hash is only ever compared with hashes of the same version.
constexpr int kCanonicalHashVersion = 1;

// Deepest array/object nesting CanonicalJson and ParseJson accept; keeps recursion bounded.
constexpr int kMaxJsonDepth = 512;

// The canonical text of `value`. InvalidArgument when a string or key is not valid UTF-8, a
// float is NaN or infinite, the value holds binary data or a discarded value, or nesting is
// deeper than kMaxJsonDepth; the message names the JSON path (e.g. `$.preprocess.mean[2]`).
StatusOr<std::string> CanonicalJson(const nlohmann::json& value);

// ECMAScript Number::toString of `x` with -0 written as "0" (e.g. 0.875, 224, 1e+21, 1.5e-7).
// Precondition: x is finite; otherwise returns "NaN"/"Infinity"/"-Infinity" as ECMAScript does,
// which is never canonical JSON.
std::string FormatCanonicalNumber(double x);

struct HashedJson {
  std::string canonical;  // CanonicalJson(value).
  std::string sha256;     // Lowercase hex SHA-256 of "tw-canonical-v1\n" + canonical.
  int hash_version;       // kCanonicalHashVersion.
};

// Canonicalizes `value` and hashes it; errors as CanonicalJson.
StatusOr<HashedJson> HashCanonicalJson(const nlohmann::json& value);

// Parses one JSON text strictly: RFC 8259 only (no comments, no trailing commas, nothing after
// the value), valid UTF-8 only, no duplicate object keys (a config saying "lr" twice is a
// mistake, not a preference for the last one), nesting at most kMaxJsonDepth. A leading UTF-8
// BOM is ignored. Errors are InvalidArgument "source_name:line:column: reason", line and column
// 1-based, column counted in bytes.
StatusOr<nlohmann::json> ParseJson(std::string_view text, std::string_view source_name);

}  // namespace tw
