#include "watch/names.h"

#include <cctype>

#include "common/numbers.h"

namespace tw::watch {

namespace {
bool EndsWith(std::string_view s, std::string_view suffix) {
  return s.size() >= suffix.size() && s.substr(s.size() - suffix.size()) == suffix;
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

}  // namespace tw::watch
