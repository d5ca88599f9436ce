#include "store/migrations.h"

#include <algorithm>
#include <map>

#include "common/sha256.h"
#include "schemas/embedded_sql.h"

namespace tw {
namespace {

// "0001_foundation.sql" -> 1; -1 when the name does not follow NNNN_lowercase_words.sql.
int VersionOf(const std::string& name) {
  if (name.size() < 10 || name.compare(name.size() - 4, 4, ".sql") != 0 || name[4] != '_') {
    return -1;
  }
  for (int i = 0; i < 4; ++i) {
    if (name[i] < '0' || name[i] > '9') return -1;
  }
  for (size_t i = 5; i + 4 < name.size(); ++i) {
    char c = name[i];
    if (!((c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '_')) return -1;
  }
  return std::stoi(name.substr(0, 4));
}

}  // namespace

StatusOr<std::vector<Migration>> MigrationsFromFiles(
    const std::vector<std::pair<std::string, std::string>>& files) {
  std::vector<Migration> out;
  for (const auto& [name, sql] : files) {
    int version = VersionOf(name);
    if (version <= 0) {
      return InternalError("migration file name " + name +
                           " does not follow NNNN_lowercase_words.sql");
    }
    out.push_back(Migration{version, name, sql, Sha256Hex(sql)});
  }
  std::sort(out.begin(), out.end(),
            [](const Migration& a, const Migration& b) { return a.version < b.version; });
  for (size_t i = 0; i < out.size(); ++i) {
    if (out[i].version != static_cast<int>(i) + 1) {
      return InternalError("migrations must be numbered 1, 2, 3... without gaps or repeats; " +
                           out[i].name + " is out of sequence");
    }
  }
  return out;
}

StatusOr<std::vector<Migration>> EmbeddedMigrations() {
  std::vector<std::pair<std::string, std::string>> files;
  for (const auto& file : EmbeddedMigrationFiles()) {
    files.emplace_back(std::string(file.name), std::string(file.text));
  }
  return MigrationsFromFiles(files);
}

StatusOr<std::vector<Migration>> PendingMigrations(const std::vector<Migration>& known,
                                                   const std::vector<AppliedMigration>& applied) {
  std::map<int, const Migration*> by_version;
  for (const auto& m : known) by_version[m.version] = &m;
  int latest_known = known.empty() ? 0 : known.back().version;
  for (const auto& a : applied) {
    auto it = by_version.find(a.version);
    if (it == by_version.end()) {
      return FailedPreconditionError(
          "the database schema is newer than this program: migration " + a.name +
          " is applied, but this program knows migrations up to version " +
          std::to_string(latest_known) + "; upgrade TransferWatch");
    }
    if (it->second->checksum != a.checksum) {
      return FailedPreconditionError(
          "migration " + a.name + " was edited after it was applied (recorded SHA-256 " +
          a.checksum + ", this program's file " + it->second->checksum +
          "); applied migrations never change: restore the file and put the change in a new "
          "migration");
    }
  }
  std::vector<Migration> pending;
  for (const auto& m : known) {
    bool done = std::any_of(applied.begin(), applied.end(),
                            [&](const AppliedMigration& a) { return a.version == m.version; });
    if (!done) pending.push_back(m);
  }
  return pending;
}

}  // namespace tw
