// The one file that calls toml++: its exceptions are caught here and turned into Status.
#include "common/config.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <toml++/toml.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <exception>
#include <set>
#include <utility>

#include "common/time_util.h"

namespace tw {
namespace {

// Config files are a few kilobytes; the cap bounds what we hand the parser.
constexpr size_t kMaxConfigBytes = 1 << 20;

// Suggestions farther than this from every known key would be guesses, not help.
constexpr int kMaxSuggestionDistance = 2;

std::string_view TypeLabel(ConfigType type) {
  switch (type) {
    case ConfigType::kString:
      return "string";
    case ConfigType::kInteger:
      return "integer";
    case ConfigType::kFloat:
      return "float";
    case ConfigType::kBool:
      return "bool";
    case ConfigType::kStringList:
      return "string list";
    case ConfigType::kDuration:
      return "duration";
  }
  return "?";
}

// What a key of `type` must be, phrased to follow "must be".
std::string_view ExpectedPhrase(ConfigType type) {
  switch (type) {
    case ConfigType::kString:
      return "a string";
    case ConfigType::kInteger:
      return "an integer";
    case ConfigType::kFloat:
      return "a number";
    case ConfigType::kBool:
      return "a boolean";
    case ConfigType::kStringList:
      return "an array of strings";
    case ConfigType::kDuration:
      return "a duration string such as \"30s\"";
  }
  return "?";
}

// [[x]] and x = [{...}] both make an array whose elements are all tables.
bool IsArrayOfTables(const toml::node& node) {
  const toml::array* array = node.as_array();
  return array != nullptr && !array->empty() &&
         std::all_of(array->begin(), array->end(),
                     [](const toml::node& element) { return element.is_table(); });
}

// What the file holds, phrased to follow "not".
std::string_view NodePhrase(const toml::node& node) {
  switch (node.type()) {
    case toml::node_type::none:
      return "nothing";
    case toml::node_type::table:
      return node.as_table()->is_inline() ? "an inline table" : "a table";
    case toml::node_type::array:
      return IsArrayOfTables(node) ? "an array of tables" : "an array";
    case toml::node_type::string:
      return "a string";
    case toml::node_type::integer:
      return "an integer";
    case toml::node_type::floating_point:
      return "a float";
    case toml::node_type::boolean:
      return "a boolean";
    case toml::node_type::date:
      return "a date";
    case toml::node_type::time:
      return "a time";
    case toml::node_type::date_time:
      return "a date-time";
  }
  return "an unknown value";
}

char AsciiLower(char c) { return c >= 'A' && c <= 'Z' ? static_cast<char>(c - 'A' + 'a') : c; }

// Optimal string alignment distance (Levenshtein plus adjacent transpositions), ignoring ASCII
// case: "databse", "Database" and "datbaase" are all one edit from "database".
int EditDistance(std::string_view a, std::string_view b) {
  const size_t n = a.size();
  const size_t m = b.size();
  std::vector<std::vector<int>> d(n + 1, std::vector<int>(m + 1));
  for (size_t i = 0; i <= n; ++i) d[i][0] = static_cast<int>(i);
  for (size_t j = 0; j <= m; ++j) d[0][j] = static_cast<int>(j);
  for (size_t i = 1; i <= n; ++i) {
    for (size_t j = 1; j <= m; ++j) {
      const int cost = AsciiLower(a[i - 1]) == AsciiLower(b[j - 1]) ? 0 : 1;
      d[i][j] = std::min({d[i - 1][j] + 1, d[i][j - 1] + 1, d[i - 1][j - 1] + cost});
      if (i > 1 && j > 1 && AsciiLower(a[i - 1]) == AsciiLower(b[j - 2]) &&
          AsciiLower(a[i - 2]) == AsciiLower(b[j - 1])) {
        d[i][j] = std::min(d[i][j], d[i - 2][j - 2] + 1);
      }
    }
  }
  return d[n][m];
}

// Bare TOML keys are A-Za-z0-9_-; anything else was written quoted and is shown quoted.
std::string DisplayComponent(std::string_view component) {
  const bool bare =
      !component.empty() && std::all_of(component.begin(), component.end(), [](char c) {
        return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
               c == '_' || c == '-';
      });
  if (bare) return std::string(component);
  std::string out = "\"";
  for (char c : component) {
    if (c == '"' || c == '\\') out += '\\';
    out += c;
  }
  out += '"';
  return out;
}

struct Problem {
  int line;
  int column;
  std::string message;
};

}  // namespace

// Validates a parsed TOML tree against a spec, collecting every problem and filling the document.
class ConfigDocBuilder {
 public:
  ConfigDocBuilder(std::string_view source_name, const std::vector<ConfigKeySpec>& spec)
      : spec_(spec) {
    doc_.source_ = std::string(source_name);
  }

  // Checks the spec itself: a bad one is our bug, not the user's.
  Status IndexSpec() {
    for (const ConfigKeySpec& entry : spec_) {
      const std::string& key = entry.key;
      if (key.empty() || key.front() == '.' || key.back() == '.' ||
          key.find("..") != std::string::npos) {
        return InternalError("config spec has a malformed key '" + key + "'");
      }
      if (!doc_.types_.emplace(key, entry.type).second) {
        return InternalError("config spec declares key '" + key + "' twice");
      }
      for (size_t dot = key.find('.'); dot != std::string::npos; dot = key.find('.', dot + 1)) {
        prefixes_.insert(key.substr(0, dot));
      }
    }
    for (const std::string& prefix : prefixes_) {
      if (doc_.types_.count(prefix) != 0) {
        return InternalError("config spec declares '" + prefix +
                             "' both as a key and as a table of keys");
      }
    }
    return OkStatus();
  }

  void WalkTable(const toml::table& table, const std::string& prefix,
                 const std::string& display_prefix, bool all_unknown) {
    for (const auto& [toml_key, node] : table) {
      const std::string_view component = toml_key.str();
      const std::string key =
          prefix.empty() ? std::string(component) : prefix + "." + std::string(component);
      const std::string display = display_prefix.empty()
                                      ? DisplayComponent(component)
                                      : display_prefix + "." + DisplayComponent(component);
      int line = static_cast<int>(node.source().begin.line);
      int column = static_cast<int>(node.source().begin.column);
      if (line == 0) {  // implicitly created tables may carry no region of their own
        line = static_cast<int>(toml_key.source().begin.line);
        column = static_cast<int>(toml_key.source().begin.column);
      }
      // A quoted key holding a dot ("a.b" = 1) must not pose as the dotted path a.b.
      const bool unknown = all_unknown || component.find('.') != std::string_view::npos;

      auto declared = unknown ? doc_.types_.end() : doc_.types_.find(key);
      if (declared != doc_.types_.end()) {
        CheckValue(key, declared->second, node, line, column);
      } else if (!unknown && prefixes_.count(key) != 0) {
        if (const toml::table* sub = node.as_table()) {
          WalkTable(*sub, key, display, /*all_unknown=*/false);
        } else {
          Add(line, column,
              "key '" + display + "' must be a table, not " + std::string(NodePhrase(node)));
        }
      } else if (const toml::table* sub = node.as_table(); sub != nullptr && !sub->empty()) {
        // Report the leaves ("databse.url"), which can be matched against declared keys.
        WalkTable(*sub, key, display, /*all_unknown=*/true);
      } else {
        UnknownKey(key, display, node.is_table(), line, column);
      }
    }
  }

  // Picks the first problem in file order; OK when there is none.
  Status FirstProblem() const {
    if (problems_.empty()) return OkStatus();
    const auto first = std::min_element(
        problems_.begin(), problems_.end(), [](const Problem& a, const Problem& b) {
          return std::make_pair(a.line, a.column) < std::make_pair(b.line, b.column);
        });
    return InvalidArgumentError(Located(first->line, first->message));
  }

  ConfigDoc TakeDoc() { return std::move(doc_); }

 private:
  std::string Located(int line, std::string_view message) const {
    std::string out = doc_.source_;
    if (line > 0) out += ":" + std::to_string(line);
    out += ": ";
    out.append(message);
    return out;
  }

  void Add(int line, int column, std::string message) {
    problems_.push_back({line, column, std::move(message)});
  }

  void UnknownKey(const std::string& key, const std::string& display, bool is_table, int line,
                  int column) {
    std::string message = "unknown key '" + display + "'";
    // A table is compared with table names, a value with value keys.
    const std::string* best = nullptr;
    int best_distance = kMaxSuggestionDistance + 1;
    auto consider = [&](const std::string& candidate) {
      const int distance = EditDistance(key, candidate);
      if (distance < best_distance) {
        best_distance = distance;
        best = &candidate;
      }
    };
    if (is_table) {
      for (const std::string& prefix : prefixes_) consider(prefix);
    } else {
      for (const ConfigKeySpec& entry : spec_) consider(entry.key);
    }
    if (best != nullptr) message += " (did you mean '" + *best + "'?)";
    Add(line, column, std::move(message));
  }

  void TypeError(const std::string& key, ConfigType type, const toml::node& node, int line,
                 int column) {
    std::string message = "key '" + key + "' must be " + std::string(ExpectedPhrase(type)) +
                          ", not " + std::string(NodePhrase(node));
    if (type == ConfigType::kDuration && (node.is_integer() || node.is_floating_point())) {
      message += " (durations need a unit, e.g. \"30s\")";
    }
    Add(line, column, std::move(message));
  }

  void CheckValue(const std::string& key, ConfigType type, const toml::node& node, int line,
                  int column) {
    ConfigDoc::Entry entry;
    entry.line = line;
    switch (type) {
      case ConfigType::kString:
        if (const auto* v = node.as_string()) {
          // Values are paths, URLs and names: the kernel and libpq read them only up to a NUL,
          // so "/a\u0000/../../b" would mean something other than what the file shows.
          if (v->get().find('\0') != std::string::npos) {
            return Add(line, column, "key '" + key + "' must not contain a NUL byte (\\u0000)");
          }
          entry.value = v->get();
        } else {
          return TypeError(key, type, node, line, column);
        }
        break;
      case ConfigType::kInteger:
        if (const auto* v = node.as_integer()) {
          entry.value = v->get();
        } else {
          return TypeError(key, type, node, line, column);
        }
        break;
      case ConfigType::kFloat:
        if (const auto* f = node.as_floating_point()) {
          entry.value = f->get();
        } else if (const auto* i = node.as_integer()) {
          entry.value = static_cast<double>(i->get());
        } else {
          return TypeError(key, type, node, line, column);
        }
        break;
      case ConfigType::kBool:
        if (const auto* v = node.as_boolean()) {
          entry.value = v->get();
        } else {
          return TypeError(key, type, node, line, column);
        }
        break;
      case ConfigType::kStringList: {
        const toml::array* array = node.as_array();
        if (array == nullptr || IsArrayOfTables(node)) {
          return TypeError(key, type, node, line, column);
        }
        std::vector<std::string> list;
        for (size_t i = 0; i < array->size(); ++i) {
          const toml::node& element = *array->get(i);
          const auto* s = element.as_string();
          if (s == nullptr) {
            const int element_line = static_cast<int>(element.source().begin.line);
            return Add(element_line > 0 ? element_line : line,
                       element_line > 0 ? static_cast<int>(element.source().begin.column) : column,
                       "key '" + key + "' must be an array of strings, but element " +
                           std::to_string(i) + " (counting from 0) is " +
                           std::string(NodePhrase(element)));
          }
          if (s->get().find('\0') != std::string::npos) {
            return Add(line, column, "key '" + key + "' must not contain a NUL byte (\\u0000)");
          }
          list.push_back(s->get());
        }
        entry.value = std::move(list);
        break;
      }
      case ConfigType::kDuration: {
        const auto* s = node.as_string();
        if (s == nullptr) return TypeError(key, type, node, line, column);
        StatusOr<std::chrono::milliseconds> duration = ParseDuration(s->get());
        if (!duration.ok()) {
          return Add(line, column, "key '" + key + "': " + duration.status().message());
        }
        entry.value = *duration;
        break;
      }
    }
    doc_.entries_.emplace(key, std::move(entry));
  }

  const std::vector<ConfigKeySpec>& spec_;
  std::set<std::string> prefixes_;  // proper dotted prefixes of declared keys: the table names
  std::vector<Problem> problems_;
  ConfigDoc doc_;
};

namespace {

[[noreturn]] void DieMisuse(const std::string& message) {
  std::fprintf(stderr, "ConfigDoc misuse: %s\n", message.c_str());
  std::abort();
}

std::string TooLargeMessage(std::string_view source, std::string_view size) {
  std::string out(source);
  out += ": config is ";
  out.append(size);
  out += " bytes; the limit is " + std::to_string(kMaxConfigBytes) + " (1 MiB)";
  return out;
}

// Owns a file descriptor so every return path closes it.
class Fd {
 public:
  explicit Fd(int fd) : fd_(fd) {}
  ~Fd() {
    if (fd_ >= 0) close(fd_);
  }
  Fd(const Fd&) = delete;
  Fd& operator=(const Fd&) = delete;
  int get() const { return fd_; }

 private:
  int fd_;
};

Status ErrnoStatus(const std::string& path, std::string_view action, int err) {
  const std::string message = path + ": " + std::string(action) + ": " + std::strerror(err);
  switch (err) {
    case ENOENT:
    case ENOTDIR:
      return NotFoundError(path + ": config file not found");
    case EACCES:
    case EPERM:
      return PermissionDeniedError(message);
    case EISDIR:
      return InvalidArgumentError(path + ": is a directory, not a config file");
    default:
      return UnknownError(message);
  }
}

}  // namespace

bool ConfigDoc::Has(std::string_view key) const {
  auto it = types_.find(key);
  if (it == types_.end()) DieMisuse("Has('" + std::string(key) + "'): key is not in the spec");
  return entries_.find(key) != entries_.end();
}

const ConfigDoc::Entry* ConfigDoc::Find(std::string_view key, ConfigType expected,
                                        std::string_view getter) const {
  auto it = types_.find(key);
  if (it == types_.end()) {
    DieMisuse(std::string(getter) + "('" + std::string(key) + "'): key is not in the spec");
  }
  if (it->second != expected) {
    DieMisuse(std::string(getter) + "('" + std::string(key) + "'): key is declared as " +
              std::string(TypeLabel(it->second)) + ", not " + std::string(TypeLabel(expected)));
  }
  auto entry = entries_.find(key);
  return entry == entries_.end() ? nullptr : &entry->second;
}

std::optional<std::string> ConfigDoc::GetString(std::string_view key) const {
  const Entry* e = Find(key, ConfigType::kString, "GetString");
  if (e == nullptr) return std::nullopt;
  return std::get<std::string>(e->value);
}

std::optional<int64_t> ConfigDoc::GetInt(std::string_view key) const {
  const Entry* e = Find(key, ConfigType::kInteger, "GetInt");
  if (e == nullptr) return std::nullopt;
  return std::get<int64_t>(e->value);
}

std::optional<double> ConfigDoc::GetFloat(std::string_view key) const {
  const Entry* e = Find(key, ConfigType::kFloat, "GetFloat");
  if (e == nullptr) return std::nullopt;
  return std::get<double>(e->value);
}

std::optional<bool> ConfigDoc::GetBool(std::string_view key) const {
  const Entry* e = Find(key, ConfigType::kBool, "GetBool");
  if (e == nullptr) return std::nullopt;
  return std::get<bool>(e->value);
}

std::optional<std::vector<std::string>> ConfigDoc::GetStringList(std::string_view key) const {
  const Entry* e = Find(key, ConfigType::kStringList, "GetStringList");
  if (e == nullptr) return std::nullopt;
  return std::get<std::vector<std::string>>(e->value);
}

std::optional<std::chrono::milliseconds> ConfigDoc::GetDuration(std::string_view key) const {
  const Entry* e = Find(key, ConfigType::kDuration, "GetDuration");
  if (e == nullptr) return std::nullopt;
  return std::get<std::chrono::milliseconds>(e->value);
}

int ConfigDoc::Line(std::string_view key) const {
  auto it = entries_.find(key);
  return it == entries_.end() ? 0 : it->second.line;
}

Status ConfigDoc::ErrorAt(std::string_view key, std::string_view message) const {
  std::string out = source_;
  const int line = Line(key);
  if (line > 0) out += ":" + std::to_string(line);
  out += ": key '";
  out.append(key);
  out += "' ";
  out.append(message);
  return InvalidArgumentError(std::move(out));
}

StatusOr<ConfigDoc> ParseConfig(std::string_view toml_text, std::string_view source_name,
                                const std::vector<ConfigKeySpec>& spec) {
  if (toml_text.size() > kMaxConfigBytes) {
    return InvalidArgumentError(TooLargeMessage(source_name, std::to_string(toml_text.size())));
  }
  ConfigDocBuilder builder(source_name, spec);
  TW_RETURN_IF_ERROR(builder.IndexSpec());
  try {
    const std::string_view path = source_name;
    const toml::table root = toml::parse(toml_text, path);
    builder.WalkTable(root, "", "", /*all_unknown=*/false);
  } catch (const toml::parse_error& e) {
    std::string message(source_name);
    message += ":" + std::to_string(e.source().begin.line) + ":" +
               std::to_string(e.source().begin.column) + ": ";
    message.append(e.description());
    return InvalidArgumentError(std::move(message));
  } catch (const std::exception& e) {
    return UnknownError(std::string(source_name) + ": reading config failed: " + e.what());
  } catch (...) {
    return UnknownError(std::string(source_name) + ": reading config failed");
  }
  TW_RETURN_IF_ERROR(builder.FirstProblem());
  return builder.TakeDoc();
}

StatusOr<ConfigDoc> LoadConfigFile(const std::string& path,
                                   const std::vector<ConfigKeySpec>& spec) {
  Fd fd(open(path.c_str(), O_RDONLY | O_CLOEXEC));
  if (fd.get() < 0) return ErrnoStatus(path, "cannot open", errno);
  struct stat st;
  if (fstat(fd.get(), &st) != 0) return ErrnoStatus(path, "cannot stat", errno);
  if (S_ISDIR(st.st_mode)) return ErrnoStatus(path, "cannot read", EISDIR);
  // Not only regular files: /dev/null and <(...) pipes are handy ways to pass a config.
  if (S_ISREG(st.st_mode) && static_cast<uint64_t>(st.st_size) > kMaxConfigBytes) {
    return InvalidArgumentError(TooLargeMessage(path, std::to_string(st.st_size)));
  }
  std::string text;
  char buffer[1 << 16];
  while (true) {
    const ssize_t n = read(fd.get(), buffer, sizeof(buffer));
    if (n < 0) {
      if (errno == EINTR) continue;
      return ErrnoStatus(path, "cannot read", errno);
    }
    if (n == 0) break;
    text.append(buffer, static_cast<size_t>(n));
    // Stop early for inputs whose size stat() could not tell (pipes) or that grew meanwhile.
    if (text.size() > kMaxConfigBytes) {
      return InvalidArgumentError(
          TooLargeMessage(path, "more than " + std::to_string(kMaxConfigBytes)));
    }
  }
  return ParseConfig(text, path, spec);
}

std::string DescribeConfigKeys(const std::vector<ConfigKeySpec>& spec) {
  std::string out;
  for (const ConfigKeySpec& entry : spec) {
    out += entry.key + " (" + std::string(TypeLabel(entry.type)) + "): " + entry.help + "\n";
  }
  return out;
}

}  // namespace tw
