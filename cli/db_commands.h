// The CLI's maintenance commands: `db backup FILE`, `db restore FILE` (pg_dump's custom format,
// store/pg_backup.h) and `gc` (retention, store/gc.h). main opens the database without migrating
// (a backup is of the schema as it is; a restore needs an empty target) and hands it over.
#pragma once

#include <optional>
#include <ostream>
#include <string>

#include "cli/output.h"
#include "common/status.h"
#include "store/model.h"
#include "store/pg_store.h"

namespace tw::cli {

// The database a maintenance command works on.
struct MaintenanceTarget {
  PgStore& store;
  std::string conninfo;
  // The embedded cluster's PostgreSQL binaries; empty with a URL: the installed pg_dump of the
  // server's major version (else the newest) is used.
  std::string pg_bin_dir;
  OutputFormat format;
  std::ostream& out;
};

struct DbBackupOptions {
  std::string file;
  bool force = false;  // replace an existing file
};
Status DbBackupCommand(MaintenanceTarget& target, const DbBackupOptions& options);

struct DbRestoreOptions {
  std::string file;
  bool force = false;  // replace the target's TransferWatch schema
};
Status DbRestoreCommand(MaintenanceTarget& target, const DbRestoreOptions& options);

struct GcCommandOptions {
  std::string per_sample_older_than = "90d";
  std::string dead_jobs_older_than = "30d";
  std::string delivered_older_than = "30d";
  bool dry_run = false;
};
Status GcCommand(MaintenanceTarget& target, const GcCommandOptions& options, TimePoint now);

// "812 B", "1.5 KiB", "23.4 MiB", "1.02 GiB".
std::string HumanBytes(int64_t bytes);

}  // namespace tw::cli
