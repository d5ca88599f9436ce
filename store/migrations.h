// The schema migrations a program carries, and the rules that keep them forward-only.
#pragma once

#include <string>
#include <vector>

#include "common/status.h"
#include "store/model.h"

namespace tw {

struct Migration {
  int version = 0;   // from the NNNN_ prefix
  std::string name;  // file name, "0001_foundation.sql"
  std::string sql;
  std::string checksum;  // SHA-256 hex of `sql`
};

// Parses the embedded schemas/sql files: names must be NNNN_lowercase_words.sql, versions
// unique and contiguous from 1. Any violation is an Internal error (a broken build).
StatusOr<std::vector<Migration>> EmbeddedMigrations();

// Same rules over an explicit list of (name, sql) files; tests use it to simulate edits.
StatusOr<std::vector<Migration>> MigrationsFromFiles(
    const std::vector<std::pair<std::string, std::string>>& files);

struct AppliedMigration {
  int version = 0;
  std::string name;
  std::string checksum;
  TimePoint applied_at;
};

struct SchemaStatus {
  std::vector<AppliedMigration> applied;
  std::vector<Migration> pending;
  int latest_known = 0;
};

// Checks what the database says against what the program carries: an applied migration whose
// checksum differs (an edited file) or that the program does not know (a newer schema) is a
// FailedPrecondition that names it. Returns the pending migrations, in order.
StatusOr<std::vector<Migration>> PendingMigrations(const std::vector<Migration>& known,
                                                   const std::vector<AppliedMigration>& applied);

}  // namespace tw
