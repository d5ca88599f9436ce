#include "watch/names.h"

#include <cctype>
#include <cstdio>

#include "common/numbers.h"
#include "common/utf8.h"

namespace tw::watch {

namespace {
bool EndsWith(std::string_view s, std::string_view suffix) {
  return s.size() >= suffix.size() && s.substr(s.size() - suffix.size()) == suffix;
}

void AppendHexByte(std::string& out, unsigned char byte) {
  char buffer[5];
  std::snprintf(buffer, sizeof(buffer), "\\x%02x", byte);
  out += buffer;
}
}  // namespace

bool IsTemporaryName(std::string_view name) {
  return name.empty() || name[0] == '.' || EndsWith(name, ".tmp") || EndsWith(name, ".part");
}

std::optional<int64_t> StepFromFileName(std::string_view name) {
  size_t end = std::string_view::npos;
  for (size_t i = name.size(); i-- > 0;) {
    if (std::isdigit(static_cast<unsigned char>(name[i]))) {
      end = i;
      break;
    }
  }
  if (end == std::string_view::npos) return std::nullopt;
  size_t begin = end;
  while (begin > 0 && std::isdigit(static_cast<unsigned char>(name[begin - 1]))) --begin;
  auto value = ParseInt64(std::string(name.substr(begin, std::min<size_t>(end - begin + 1, 18))));
  if (!value.ok()) return std::nullopt;
  return *value;
}

std::string EscapeName(std::string_view name) {
  std::string out;
  out.reserve(name.size());
  size_t i = 0;
  while (i < name.size()) {
    const auto byte = static_cast<unsigned char>(name[i]);
    const size_t length = Utf8SequenceLength(name, i);
    if (length == 0) {  // Not UTF-8.
      AppendHexByte(out, byte);
      ++i;
      continue;
    }
    if (length == 1) {
      switch (byte) {
        case '\n':
          out += "\\n";
          break;
        case '\t':
          out += "\\t";
          break;
        case '\r':
          out += "\\r";
          break;
        case '\\':
          out += "\\\\";
          break;
        case '"':
          out += "\\\"";
          break;
        default:
          if (byte < 0x20 || byte == 0x7f) {
            AppendHexByte(out, byte);
          } else {
            out += static_cast<char>(byte);
          }
      }
    } else if (length == 2 && byte == 0xc2 && static_cast<unsigned char>(name[i + 1]) < 0xa0) {
      // U+0080..U+009F, the C1 controls (0x9b is CSI, an escape sequence on its own).
      AppendHexByte(out, byte);
      AppendHexByte(out, static_cast<unsigned char>(name[i + 1]));
    } else {
      out.append(name.substr(i, length));
    }
    i += length;
  }
  return out;
}

}  // namespace tw::watch
