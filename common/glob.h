// Shell-style glob patterns for CLI filters such as `--model 'resnet*'`.
//
// Syntax (no path semantics: '/' and a leading '.' are ordinary characters):
//   *        any run of characters, including the empty run
//   ?        exactly one character (one UTF-8 code point)
//   [abc]    one of the listed characters; [a-z] ranges compare code points; a ']' right after
//            the '[' (or after the negation mark) is a member, so is a '-' first or last
//   [!abc]   any one character not listed; [^abc] is the same
//   \c       the character c itself, also inside [...]
// Matching is case-sensitive and works on code points; bytes that are not valid UTF-8 in the text
// each count as one character. A pattern is malformed when it has an unterminated '[', a trailing
// '\', a reversed range such as [z-a], or is not valid UTF-8.
#pragma once

#include <string>
#include <string_view>

#include "common/status.h"

namespace tw {

// OK for a well-formed pattern; otherwise InvalidArgumentError naming the pattern and the problem.
// Callers taking a pattern from the user validate it once, then match it many times.
Status ValidateGlob(std::string_view pattern);

// Whether `text` matches all of `pattern`. A malformed pattern (see ValidateGlob) matches nothing
// and returns false. Runs in O(|pattern| * |text|) time, never exponential.
bool GlobMatch(std::string_view pattern, std::string_view text);

// Translates `pattern` into an anchored regular expression for PostgreSQL's `~` operator (an ARE)
// that matches exactly the strings GlobMatch matches. The output only uses constructs that mean
// the same in ECMAScript regexes: ^ $ . .* [...] [^...] and backslash before punctuation.
// Malformed patterns yield InvalidArgumentError (as ValidateGlob).
StatusOr<std::string> GlobToPostgresRegex(std::string_view pattern);

// Whether `pattern` has any of * ? [ or \, i.e. whether it can match anything other than itself
// (callers use an equality lookup otherwise). Backslash counts because "a\b" matches "ab", not
// "a\b", so comparing the raw pattern for equality would be wrong.
bool HasGlobMeta(std::string_view pattern);

// The literal text every match of a well-formed `pattern` starts with: the characters before the
// first unescaped * ? or [, with escapes removed ("run-4\\*/e*" -> "run-4*/e"). Lets a database
// narrow the candidates with an indexable prefix test before the exact regex match.
std::string GlobLiteralPrefix(std::string_view pattern);

}  // namespace tw
