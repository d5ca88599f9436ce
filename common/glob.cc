#include "common/glob.h"

#include <cstdint>
#include <vector>

namespace tw {
namespace {

// Code points of bytes that are not valid UTF-8 in the text are mapped above the Unicode range, so
// they never equal a real code point (nor fall in a class range) yet still count as a character.
constexpr uint32_t kInvalidByteBase = 0x110000;

struct Decoded {
  uint32_t code_point;
  size_t length;  // bytes consumed, at least 1
  bool valid;
};

// Decodes one UTF-8 sequence at `pos`, rejecting overlong forms, surrogates and values above
// U+10FFFF, since PostgreSQL (which must agree with us) rejects those too.
Decoded DecodeUtf8(std::string_view s, size_t pos) {
  const auto byte = [&](size_t i) { return static_cast<unsigned char>(s[i]); };
  const unsigned char b0 = byte(pos);
  const Decoded invalid{kInvalidByteBase + b0, 1, false};
  if (b0 < 0x80) return {b0, 1, true};
  size_t length;
  uint32_t cp;
  uint32_t min_cp;
  if (b0 >= 0xC2 && b0 <= 0xDF) {
    length = 2;
    cp = b0 & 0x1F;
    min_cp = 0x80;
  } else if (b0 >= 0xE0 && b0 <= 0xEF) {
    length = 3;
    cp = b0 & 0x0F;
    min_cp = 0x800;
  } else if (b0 >= 0xF0 && b0 <= 0xF4) {
    length = 4;
    cp = b0 & 0x07;
    min_cp = 0x10000;
  } else {
    return invalid;
  }
  if (s.size() - pos < length) return invalid;
  for (size_t i = 1; i < length; ++i) {
    const unsigned char b = byte(pos + i);
    if ((b & 0xC0) != 0x80) return invalid;
    cp = (cp << 6) | (b & 0x3F);
  }
  if (cp < min_cp || cp > 0x10FFFF || (cp >= 0xD800 && cp <= 0xDFFF)) return invalid;
  return {cp, length, true};
}

// One member of a [...] class; a single character is a range with lo == hi.
struct ClassRange {
  uint32_t lo;
  uint32_t hi;
  std::string_view lo_bytes;  // the characters as written (unescaped), for the regex translation
  std::string_view hi_bytes;
};

struct Token {
  enum class Kind { kLiteral, kAnyChar, kStar, kClass };
  explicit Token(Kind k) : kind(k) {}

  Kind kind;
  uint32_t code_point = 0;         // kLiteral
  std::string_view bytes;          // kLiteral: the character's UTF-8 bytes
  bool negated = false;            // kClass
  std::vector<ClassRange> ranges;  // kClass

  bool Matches(uint32_t cp) const {
    switch (kind) {
      case Kind::kLiteral:
        return cp == code_point;
      case Kind::kAnyChar:
        return true;
      case Kind::kStar:
        return false;  // handled by the matcher
      case Kind::kClass:
        for (const ClassRange& r : ranges) {
          if (cp >= r.lo && cp <= r.hi) return !negated;
        }
        return negated;
    }
    return false;
  }
};

Status MalformedError(std::string_view pattern, std::string_view why) {
  std::string message = "invalid glob pattern \"";
  message.append(pattern);
  message += "\": ";
  message.append(why);
  return InvalidArgumentError(std::move(message));
}

// Reads one (possibly backslash-escaped) character of a class at `*pos`.
StatusOr<Decoded> ReadClassChar(std::string_view pattern, size_t* pos) {
  if (pattern[*pos] == '\\') {
    ++*pos;
    if (*pos == pattern.size()) return MalformedError(pattern, "trailing '\\'");
  }
  const Decoded d = DecodeUtf8(pattern, *pos);
  if (!d.valid) return MalformedError(pattern, "not valid UTF-8");
  *pos += d.length;
  return d;
}

// Parses the class whose '[' is at `*pos`; leaves `*pos` after its ']'.
StatusOr<Token> ParseClass(std::string_view pattern, size_t* pos) {
  Token token(Token::Kind::kClass);
  size_t i = *pos + 1;
  if (i < pattern.size() && (pattern[i] == '!' || pattern[i] == '^')) {
    token.negated = true;
    ++i;
  }
  bool first = true;
  while (true) {
    if (i >= pattern.size()) return MalformedError(pattern, "unterminated '['");
    if (pattern[i] == ']' && !first) break;
    first = false;
    TW_ASSIGN_OR_RETURN(const Decoded lo, ReadClassChar(pattern, &i));
    std::string_view lo_bytes = pattern.substr(i - lo.length, lo.length);
    Decoded hi = lo;
    std::string_view hi_bytes = lo_bytes;
    // A '-' makes a range unless it is the last member ("[a-]" holds 'a' and '-').
    if (i + 1 < pattern.size() && pattern[i] == '-' && pattern[i + 1] != ']') {
      ++i;
      TW_ASSIGN_OR_RETURN(hi, ReadClassChar(pattern, &i));
      hi_bytes = pattern.substr(i - hi.length, hi.length);
      if (hi.code_point < lo.code_point) {
        std::string why = "character range ";
        why.append(lo_bytes);
        why += '-';
        why.append(hi_bytes);
        why += " is reversed";
        return MalformedError(pattern, why);
      }
    }
    token.ranges.push_back({lo.code_point, hi.code_point, lo_bytes, hi_bytes});
  }
  *pos = i + 1;
  return token;
}

StatusOr<std::vector<Token>> ParseGlob(std::string_view pattern) {
  std::vector<Token> tokens;
  size_t i = 0;
  while (i < pattern.size()) {
    const char c = pattern[i];
    if (c == '*') {
      // Runs of stars mean the same as one; collapsing keeps the matcher's state small.
      if (tokens.empty() || tokens.back().kind != Token::Kind::kStar) {
        tokens.push_back(Token(Token::Kind::kStar));
      }
      ++i;
    } else if (c == '?') {
      tokens.push_back(Token(Token::Kind::kAnyChar));
      ++i;
    } else if (c == '[') {
      TW_ASSIGN_OR_RETURN(Token token, ParseClass(pattern, &i));
      tokens.push_back(std::move(token));
    } else {
      if (c == '\\') {
        ++i;
        if (i == pattern.size()) return MalformedError(pattern, "trailing '\\'");
      }
      const Decoded d = DecodeUtf8(pattern, i);
      if (!d.valid) return MalformedError(pattern, "not valid UTF-8");
      Token token(Token::Kind::kLiteral);
      token.code_point = d.code_point;
      token.bytes = pattern.substr(i, d.length);
      tokens.push_back(std::move(token));
      i += d.length;
    }
  }
  return tokens;
}

// Appends `bytes` (one character) to a regex outside brackets.
void AppendRegexLiteral(std::string_view bytes, std::string* out) {
  // Every character that is special outside brackets in a PostgreSQL ARE or in ECMAScript. A
  // backslash before punctuation means the character itself in both dialects.
  static constexpr std::string_view kSpecial = "\\^$.|?*+()[]{}";
  if (bytes.size() == 1 && kSpecial.find(bytes[0]) != std::string_view::npos) *out += '\\';
  out->append(bytes);
}

// Appends `bytes` (one character) inside a bracket expression.
void AppendBracketChar(std::string_view bytes, std::string* out) {
  // '[' is escaped so that "[:", "[." and "[=" cannot start POSIX classes or collating elements.
  static constexpr std::string_view kSpecial = "\\]^-[";
  if (bytes.size() == 1 && kSpecial.find(bytes[0]) != std::string_view::npos) *out += '\\';
  out->append(bytes);
}

}  // namespace

Status ValidateGlob(std::string_view pattern) { return ParseGlob(pattern).status(); }

bool GlobMatch(std::string_view pattern, std::string_view text) {
  StatusOr<std::vector<Token>> parsed = ParseGlob(pattern);
  if (!parsed.ok()) return false;
  const std::vector<Token>& tokens = *parsed;

  // The classic two-pointer wildcard matcher: on a mismatch, retry from the most recent star with
  // it swallowing one more character. Only the latest star matters (an earlier star can never need
  // to absorb more), which bounds the work by |pattern| * |text|.
  constexpr size_t kNoStar = static_cast<size_t>(-1);
  size_t p = 0;
  size_t t = 0;
  size_t star_p = kNoStar;
  size_t star_t = 0;
  while (t < text.size()) {
    if (p < tokens.size() && tokens[p].kind == Token::Kind::kStar) {
      star_p = p++;
      star_t = t;
      continue;
    }
    const Decoded d = DecodeUtf8(text, t);
    if (p < tokens.size() && tokens[p].Matches(d.code_point)) {
      ++p;
      t += d.length;
      continue;
    }
    if (star_p == kNoStar) return false;
    p = star_p + 1;
    star_t += DecodeUtf8(text, star_t).length;
    t = star_t;
  }
  while (p < tokens.size() && tokens[p].kind == Token::Kind::kStar) ++p;
  return p == tokens.size();
}

StatusOr<std::string> GlobToPostgresRegex(std::string_view pattern) {
  TW_ASSIGN_OR_RETURN(const std::vector<Token> tokens, ParseGlob(pattern));
  std::string out = "^";
  for (const Token& token : tokens) {
    switch (token.kind) {
      case Token::Kind::kLiteral:
        AppendRegexLiteral(token.bytes, &out);
        break;
      case Token::Kind::kAnyChar:
        // '.' matches newline too in PostgreSQL's default (not newline-sensitive) mode, as '?'
        // does in GlobMatch.
        out += '.';
        break;
      case Token::Kind::kStar:
        out += ".*";
        break;
      case Token::Kind::kClass:
        out += token.negated ? "[^" : "[";
        for (const ClassRange& range : token.ranges) {
          AppendBracketChar(range.lo_bytes, &out);
          if (range.lo != range.hi) {
            out += '-';
            AppendBracketChar(range.hi_bytes, &out);
          }
        }
        out += ']';
        break;
    }
  }
  out += '$';
  return out;
}

bool HasGlobMeta(std::string_view pattern) {
  return pattern.find_first_of("*?[\\") != std::string_view::npos;
}

std::string GlobLiteralPrefix(std::string_view pattern) {
  std::string prefix;
  for (size_t i = 0; i < pattern.size(); ++i) {
    char c = pattern[i];
    if (c == '*' || c == '?' || c == '[') break;
    if (c == '\\') {
      if (i + 1 >= pattern.size()) break;  // malformed: a trailing backslash
      c = pattern[++i];
    }
    prefix += c;
  }
  return prefix;
}

}  // namespace tw
