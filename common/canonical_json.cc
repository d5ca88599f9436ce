#include "common/canonical_json.h"

#include <algorithm>
#include <charconv>
#include <cmath>
#include <cstddef>
#include <cstdint>
#include <iterator>
#include <utility>
#include <vector>

#include "common/sha256.h"
#include "common/utf8.h"

namespace tw {
namespace {

using nlohmann::json;

// The version is part of the hashed bytes, so a v2 canonical form can never produce a hash
// equal to a v1 hash of different text. Bump both together.
constexpr std::string_view kHashPreamble = "tw-canonical-v1\n";
static_assert(kCanonicalHashVersion == 1, "update kHashPreamble with kCanonicalHashVersion");

constexpr char kHexDigits[] = "0123456789abcdef";

// Appends `s` as a canonical JSON string literal. Precondition: `s` is valid UTF-8.
void AppendQuoted(std::string_view s, std::string* out) {
  out->push_back('"');
  for (const char ch : s) {
    const auto c = static_cast<unsigned char>(ch);
    switch (c) {
      case '"':
        out->append("\\\"");
        break;
      case '\\':
        out->append("\\\\");
        break;
      case '\b':
        out->append("\\b");
        break;
      case '\f':
        out->append("\\f");
        break;
      case '\n':
        out->append("\\n");
        break;
      case '\r':
        out->append("\\r");
        break;
      case '\t':
        out->append("\\t");
        break;
      default:
        if (c < 0x20) {
          out->append("\\u00");
          out->push_back(kHexDigits[c >> 4]);
          out->push_back(kHexDigits[c & 0xf]);
        } else {
          out->push_back(ch);  // DEL and all non-ASCII go out raw.
        }
    }
  }
  out->push_back('"');
}

bool IsIdentifier(std::string_view key) {
  if (key.empty()) return false;
  for (size_t i = 0; i < key.size(); ++i) {
    const char c = key[i];
    const bool alpha = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || c == '_';
    if (!alpha && !(i > 0 && c >= '0' && c <= '9')) return false;
  }
  return true;
}

// Appends the path step for `key`: `.name` for identifiers, else `["..."]`. Bytes that cannot be
// shown (control characters, and all non-ASCII when the key is not valid UTF-8) become \xNN so
// the message itself stays printable and valid UTF-8.
void AppendKeyToPath(std::string_view key, std::string* path) {
  if (IsIdentifier(key)) {
    path->push_back('.');
    path->append(key);
    return;
  }
  const bool valid_utf8 = FindInvalidUtf8(key) == std::string_view::npos;
  path->append("[\"");
  for (const char ch : key) {
    const auto c = static_cast<unsigned char>(ch);
    if (c == '"' || c == '\\') {
      path->push_back('\\');
      path->push_back(ch);
    } else if (c < 0x20 || c == 0x7f || (c >= 0x80 && !valid_utf8)) {
      path->append("\\x");
      path->push_back(kHexDigits[c >> 4]);
      path->push_back(kHexDigits[c & 0xf]);
    } else {
      path->push_back(ch);
    }
  }
  path->append("\"]");
}

template <typename Int>
void AppendInteger(Int v, std::string* out) {
  char buf[24];  // Enough for -9223372036854775808 and 18446744073709551615.
  const auto result = std::to_chars(buf, buf + sizeof(buf), v);
  out->append(buf, result.ptr);
}

// Writes canonical JSON while tracking the JSON path of the value being written, so that errors
// can say where they are without a second pass.
class Canonicalizer {
 public:
  Status Write(const json& value, int depth) {
    switch (value.type()) {
      case json::value_t::null:
        out_.append("null");
        return OkStatus();
      case json::value_t::boolean:
        out_.append(value.get<bool>() ? "true" : "false");
        return OkStatus();
      case json::value_t::number_integer:
        AppendInteger(value.get<std::int64_t>(), &out_);
        return OkStatus();
      case json::value_t::number_unsigned:
        AppendInteger(value.get<std::uint64_t>(), &out_);
        return OkStatus();
      case json::value_t::number_float: {
        const double x = value.get<double>();
        if (!std::isfinite(x)) return Error("NaN or infinite number");
        out_.append(FormatCanonicalNumber(x));
        return OkStatus();
      }
      case json::value_t::string:
        return WriteString(value.get_ref<const std::string&>(), "string");
      case json::value_t::array:
        return WriteArray(value, depth);
      case json::value_t::object:
        return WriteObject(value, depth);
      case json::value_t::binary:
        return Error("binary value (not representable in JSON)");
      case json::value_t::discarded:
        return Error("discarded value");
    }
    return Error("unknown JSON value type");
  }

  std::string TakeOutput() { return std::move(out_); }

 private:
  Status Error(std::string_view what) const {
    return InvalidArgumentError("cannot canonicalize JSON: " + std::string(what) + " at " + path_);
  }

  Status WriteString(std::string_view s, std::string_view what) {
    if (FindInvalidUtf8(s) != std::string_view::npos) {
      return Error("invalid UTF-8 in " + std::string(what));
    }
    AppendQuoted(s, &out_);
    return OkStatus();
  }

  Status WriteArray(const json& array, int depth) {
    if (depth >= kMaxJsonDepth) return Error("nesting too deep");
    out_.push_back('[');
    const size_t path_size = path_.size();
    size_t index = 0;
    for (const json& element : array) {
      if (index > 0) out_.push_back(',');
      path_.push_back('[');
      AppendInteger(index, &path_);
      path_.push_back(']');
      TW_RETURN_IF_ERROR(Write(element, depth + 1));
      path_.resize(path_size);
      ++index;
    }
    out_.push_back(']');
    return OkStatus();
  }

  Status WriteObject(const json& object, int depth) {
    if (depth >= kMaxJsonDepth) return Error("nesting too deep");
    // nlohmann's std::map already iterates in byte order, but the canonical form must not
    // depend on which map type the json alias happens to use, so sort explicitly.
    std::vector<std::pair<std::string_view, const json*>> members;
    members.reserve(object.size());
    for (auto it = object.begin(); it != object.end(); ++it) {
      members.emplace_back(it.key(), &it.value());
    }
    std::sort(members.begin(), members.end(), [](const auto& a, const auto& b) {
      return a.first < b.first;  // char_traits<char> compares as unsigned char: byte order.
    });
    out_.push_back('{');
    const size_t path_size = path_.size();
    bool first = true;
    for (const auto& [key, member] : members) {
      if (!first) out_.push_back(',');
      first = false;
      AppendKeyToPath(key, &path_);
      TW_RETURN_IF_ERROR(WriteString(key, "object key"));
      out_.push_back(':');
      TW_RETURN_IF_ERROR(Write(*member, depth + 1));
      path_.resize(path_size);
    }
    out_.push_back('}');
    return OkStatus();
  }

  std::string out_;
  std::string path_ = "$";
};

// Forward iterator over the input that records how far nlohmann's lexer has read. SAX events
// other than parse_error carry no position, and we want one for our own errors too.
class TrackingIterator {
 public:
  using iterator_category = std::forward_iterator_tag;
  using value_type = char;
  using difference_type = std::ptrdiff_t;
  using pointer = const char*;
  using reference = const char&;

  TrackingIterator(const char* p, const char** high_water) : p_(p), high_water_(high_water) {}
  reference operator*() const { return *p_; }
  TrackingIterator& operator++() {
    ++p_;
    if (p_ > *high_water_) *high_water_ = p_;
    return *this;
  }
  TrackingIterator operator++(int) {
    TrackingIterator old = *this;
    ++*this;
    return old;
  }
  friend bool operator==(const TrackingIterator& a, const TrackingIterator& b) {
    return a.p_ == b.p_;
  }
  friend bool operator!=(const TrackingIterator& a, const TrackingIterator& b) {
    return a.p_ != b.p_;
  }

 private:
  const char* p_;
  const char** high_water_;
};

// "[json.exception.parse_error.101] parse error at line 1, column 2: syntax error ..." ->
// "syntax error ...": we print our own position in front.
std::string ReasonFromNlohmann(std::string_view what) {
  const size_t bracket = what.find("] ");
  if (what.substr(0, 1) == "[" && bracket != std::string_view::npos) {
    what.remove_prefix(bracket + 2);
  }
  if (what.substr(0, 11) == "parse error") {
    const size_t colon = what.find(": ");
    if (colon != std::string_view::npos) what.remove_prefix(colon + 2);
  }
  return std::string(what);
}

// InvalidArgument "source_name:line:column: reason" for the byte at `offset` in `text`.
Status ErrorAt(std::string_view text, std::string_view source_name, size_t offset,
               std::string_view reason) {
  offset = std::min(offset, text.size());
  const std::string_view before = text.substr(0, offset);
  const size_t line = 1 + static_cast<size_t>(std::count(before.begin(), before.end(), '\n'));
  const size_t last_newline = before.rfind('\n');
  const size_t column =
      offset - (last_newline == std::string_view::npos ? 0 : last_newline + 1) + 1;
  return InvalidArgumentError(std::string(source_name) + ":" + std::to_string(line) + ":" +
                              std::to_string(column) + ": " + std::string(reason));
}

// Builds the DOM like nlohmann's own SAX DOM parser, but rejects duplicate keys and deep
// nesting and never throws: errors are recorded as a Status with a line and column.
class StrictDomBuilder {
 public:
  StrictDomBuilder(std::string_view text, std::string_view source_name,
                   const char* const* high_water)
      : text_(text), source_name_(source_name), high_water_(high_water) {}

  bool null() { return Add(json(nullptr)) != nullptr; }
  bool boolean(bool b) { return Add(json(b)) != nullptr; }
  bool number_integer(json::number_integer_t v) { return Add(json(v)) != nullptr; }
  bool number_unsigned(json::number_unsigned_t v) { return Add(json(v)) != nullptr; }
  bool number_float(json::number_float_t v, const json::string_t& /*text*/) {
    return Add(json(v)) != nullptr;
  }
  bool string(json::string_t& s) { return Add(json(std::move(s))) != nullptr; }
  bool binary(json::binary_t& /*b*/) {
    return Fail(Consumed(), "binary values are not JSON");  // Unreachable for JSON text.
  }
  bool start_object(std::size_t /*size*/) { return Open(json::object()); }
  bool end_object() {
    stack_.pop_back();
    return true;
  }
  bool start_array(std::size_t /*size*/) { return Open(json::array()); }
  bool end_array() {
    stack_.pop_back();
    return true;
  }
  bool key(json::string_t& k) {
    if (stack_.back()->contains(k)) {
      std::string reason = "duplicate object key ";
      AppendQuoted(k, &reason);
      return Fail(KeyStart(), reason);
    }
    key_ = std::move(k);
    return true;
  }
  bool parse_error(std::size_t position, const std::string& /*last_token*/,
                   const json::exception& ex) {
    // `position` counts bytes read including the offending one (one past the end at EOF).
    return Fail(position > 0 ? position - 1 : 0, ReasonFromNlohmann(ex.what()));
  }

  const Status& status() const { return status_; }
  json TakeRoot() { return std::move(root_); }

 private:
  size_t Consumed() const { return static_cast<size_t>(*high_water_ - text_.data()); }

  // When key() runs the lexer has just read the key's closing quote; walk back to the opening
  // quote (the first '"' not preceded by an odd run of backslashes) so the error points at it.
  size_t KeyStart() const {
    size_t close = Consumed();
    if (close == 0) return 0;
    --close;
    for (size_t i = close; i-- > 0;) {
      if (text_[i] != '"') continue;
      size_t backslashes = 0;
      while (backslashes < i && text_[i - 1 - backslashes] == '\\') ++backslashes;
      if (backslashes % 2 == 0) return i;
    }
    return close;
  }

  bool Open(json container) {
    if (stack_.size() >= static_cast<size_t>(kMaxJsonDepth)) {
      return Fail(Consumed() > 0 ? Consumed() - 1 : 0,
                  "nesting deeper than " + std::to_string(kMaxJsonDepth));
    }
    json* added = Add(std::move(container));
    stack_.push_back(added);
    return true;
  }

  // Pointers on stack_ stay valid: only the innermost open container ever grows.
  json* Add(json value) {
    if (stack_.empty()) {
      root_ = std::move(value);
      return &root_;
    }
    json* parent = stack_.back();
    if (parent->is_array()) {
      parent->push_back(std::move(value));
      return &parent->back();
    }
    auto& object = parent->get_ref<json::object_t&>();
    return &object.emplace(std::move(key_), std::move(value)).first->second;
  }

  bool Fail(size_t offset, std::string_view reason) {
    if (status_.ok()) status_ = ErrorAt(text_, source_name_, offset, reason);
    return false;
  }

  std::string_view text_;
  std::string_view source_name_;
  const char* const* high_water_;
  json root_;
  std::vector<json*> stack_;
  std::string key_;
  Status status_;
};

}  // namespace

std::string FormatCanonicalNumber(double x) {
  if (std::isnan(x)) return "NaN";
  if (std::isinf(x)) return x > 0 ? "Infinity" : "-Infinity";
  if (x == 0) return "0";  // Also -0: ECMAScript prints it as "0".

  std::string out;
  if (x < 0) {
    out.push_back('-');
    x = -x;
  }
  // Without a precision, to_chars gives the shortest digits that round-trip, which is the
  // digit string ECMAScript's Number::toString asks for (closest to x on ties).
  char buf[64];
  const auto result = std::to_chars(buf, buf + sizeof(buf), x, std::chars_format::scientific);
  const std::string_view sci(buf, static_cast<size_t>(result.ptr - buf));  // "d[.ddd]e[+-]XX"
  const size_t e = sci.find('e');
  std::string digits(1, sci[0]);
  if (e > 2) digits.append(sci.substr(2, e - 2));
  while (digits.size() > 1 && digits.back() == '0') digits.pop_back();
  int exponent = 0;
  std::string_view exp_text = sci.substr(e + 1);
  const bool negative_exp = exp_text[0] == '-';
  if (exp_text[0] == '+' || exp_text[0] == '-') exp_text.remove_prefix(1);
  std::from_chars(exp_text.data(), exp_text.data() + exp_text.size(), exponent);
  if (negative_exp) exponent = -exponent;

  // ECMAScript names: value = digits * 10^(n - k), k = number of digits.
  const int k = static_cast<int>(digits.size());
  const int n = exponent + 1;
  if (k <= n && n <= 21) {
    out.append(digits);
    out.append(static_cast<size_t>(n - k), '0');
  } else if (0 < n && n <= 21) {
    out.append(digits, 0, static_cast<size_t>(n));
    out.push_back('.');
    out.append(digits, static_cast<size_t>(n), std::string::npos);
  } else if (-6 < n && n <= 0) {
    out.append("0.");
    out.append(static_cast<size_t>(-n), '0');
    out.append(digits);
  } else {
    out.push_back(digits[0]);
    if (k > 1) {
      out.push_back('.');
      out.append(digits, 1, std::string::npos);
    }
    out.push_back('e');
    out.push_back(n - 1 < 0 ? '-' : '+');
    out.append(std::to_string(std::abs(n - 1)));
  }
  return out;
}

StatusOr<std::string> CanonicalJson(const json& value) {
  try {
    Canonicalizer canonicalizer;
    TW_RETURN_IF_ERROR(canonicalizer.Write(value, 0));
    return canonicalizer.TakeOutput();
  } catch (const json::exception& e) {
    // Only reachable if the type switch above disagrees with nlohmann: our bug.
    return InternalError(std::string("canonical JSON: ") + e.what());
  }
}

StatusOr<HashedJson> HashCanonicalJson(const json& value) {
  TW_ASSIGN_OR_RETURN(std::string canonical, CanonicalJson(value));
  Sha256Hasher hasher;
  hasher.Update(kHashPreamble);
  hasher.Update(canonical);
  HashedJson hashed;
  hashed.sha256 = hasher.FinishHex();
  hashed.canonical = std::move(canonical);
  hashed.hash_version = kCanonicalHashVersion;
  return hashed;
}

StatusOr<json> ParseJson(std::string_view text, std::string_view source_name) {
  // nlohmann rejects bad UTF-8 inside strings itself; checking first also covers bytes outside
  // strings and gives a message that says plainly what is wrong.
  const size_t bad = FindInvalidUtf8(text);
  if (bad != std::string_view::npos) return ErrorAt(text, source_name, bad, "invalid UTF-8");

  const char* high_water = text.data();
  StrictDomBuilder builder(text, source_name, &high_water);
  try {
    const bool parsed = json::sax_parse(TrackingIterator(text.data(), &high_water),
                                        TrackingIterator(text.data() + text.size(), &high_water),
                                        &builder, json::input_format_t::json, /*strict=*/true,
                                        /*ignore_comments=*/false);
    if (!builder.status().ok()) return builder.status();
    if (!parsed)
      return ErrorAt(text, source_name, static_cast<size_t>(high_water - text.data()),
                     "invalid JSON");
    return builder.TakeRoot();
  } catch (const json::exception& e) {
    // The SAX interface reports parse errors without throwing; anything else is unexpected.
    return InvalidArgumentError(std::string(source_name) + ": " + ReasonFromNlohmann(e.what()));
  }
}

}  // namespace tw
