// TOML config files validated against a table of the keys a program accepts.
//
// Each program (CLI, daemon) declares its keys once as a std::vector<ConfigKeySpec>; loading checks
// the whole file against it so that typos and type mistakes fail at startup, with a message naming
// the file, the line and the key, instead of being silently ignored. Only the FIRST problem in file
// order is reported, so the message is deterministic.
//
// Thread safety: ConfigDoc is a value; const methods may be called concurrently.
#pragma once

#include <chrono>
#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <string_view>
#include <variant>
#include <vector>

#include "common/status.h"

namespace tw {

enum class ConfigType {
  kString,      // any TOML string, including ""
  kInteger,     // a TOML integer (floats are rejected)
  kFloat,       // a TOML float or integer
  kBool,        // true / false
  kStringList,  // an array whose elements are all strings (may be empty)
  kDuration,    // a string accepted by ParseDuration: "500ms", "30s", "1h30m"
};

struct ConfigKeySpec {
  std::string key;  // dotted path: "database.url" is `url` in table `[database]`
  ConfigType type;
  std::string help;
};

// A validated config document. Getters must be called with a key declared in the spec the document
// was validated against, using the getter matching the declared type: anything else is a
// programming error and aborts the process with a message.
class ConfigDoc {
 public:
  ConfigDoc() = default;

  // Whether the file set `key` (which must be declared in the spec, else the process aborts).
  bool Has(std::string_view key) const;

  // The value of `key`, or nullopt when the file did not set it.
  std::optional<std::string> GetString(std::string_view key) const;
  std::optional<int64_t> GetInt(std::string_view key) const;
  std::optional<double> GetFloat(std::string_view key) const;
  std::optional<bool> GetBool(std::string_view key) const;
  std::optional<std::vector<std::string>> GetStringList(std::string_view key) const;
  std::optional<std::chrono::milliseconds> GetDuration(std::string_view key) const;

  // The 1-based line where `key`'s value starts; 0 when the file did not set it (or it is not
  // declared: unlike the getters this never aborts, as it is used on error paths).
  int Line(std::string_view key) const;

  // The file's path or the source name given to ParseConfig.
  const std::string& source() const { return source_; }

  // For range checks done by the caller, so they read like the loader's own errors:
  // InvalidArgumentError("PATH:LINE: key 'k' " + message), or "PATH: key 'k' ..." when absent.
  Status ErrorAt(std::string_view key, std::string_view message) const;

 private:
  friend class ConfigDocBuilder;  // in config.cc: fills a document while validating

  using Value = std::variant<std::string, int64_t, double, bool, std::vector<std::string>,
                             std::chrono::milliseconds>;
  struct Entry {
    Value value;
    int line = 0;
  };

  // Aborts unless `key` is declared with type `expected` (`getter` names the caller for the
  // message); returns the entry, or nullptr when the file did not set the key.
  const Entry* Find(std::string_view key, ConfigType expected, std::string_view getter) const;

  std::string source_;
  std::map<std::string, ConfigType, std::less<>> types_;  // the whole spec
  std::map<std::string, Entry, std::less<>> entries_;     // the keys the file set
};

// Parses and validates `toml_text`. `source_name` stands for the file in messages. Errors are
// InvalidArgumentError:
//   "NAME:LINE:COL: <parser's description>"   TOML syntax error
//   "NAME:LINE: unknown key 'databse.url' (did you mean 'database.url'?)"
//   "NAME:LINE: key 'database.url' must be a string, not an integer"
//   "NAME:LINE: key 'database' must be a table, not a string"   (a prefix of declared keys)
//   "NAME:LINE: key 'paths' must be an array of strings, but element 2 (counting from 0) is an
//    integer"   (LINE is the element's)
//   "NAME:LINE: key 'timeout': invalid duration \"5x\": ..."
//   "NAME: config is N bytes; the limit is 1048576 (1 MiB)"
// An unknown table is reported through its first unknown leaf ("databse.url"), an empty one by
// name. A malformed spec (duplicate key, a key that is also a table, empty components) is a bug:
// InternalError.
StatusOr<ConfigDoc> ParseConfig(std::string_view toml_text, std::string_view source_name,
                                const std::vector<ConfigKeySpec>& spec);

// Reads the file at `path` and calls ParseConfig with `path` as the source name. NotFoundError when
// the file is missing, PermissionDeniedError when unreadable, InvalidArgumentError when it is not a
// regular file or larger than 1 MiB; every message names the path.
StatusOr<ConfigDoc> LoadConfigFile(const std::string& path, const std::vector<ConfigKeySpec>& spec);

// One "key (type): help" line per key, in spec order, each ending in '\n' (for --help and docs).
std::string DescribeConfigKeys(const std::vector<ConfigKeySpec>& spec);

}  // namespace tw
