// Backups of the schema `tw` with PostgreSQL's own tools: pg_dump in its custom format, and
// pg_restore into an empty database. Used by `transferwatch db backup|restore`.
//
// The tools run as this process's user, never through a shell, with the connection settings in
// their environment rather than on their command line (a password in argv is visible to every
// local user in /proc). As root with the embedded cluster that is fine too: the socket's
// authentication is `trust` and root can reach the cluster user's private socket folder, which is
// how every TransferWatch program connects; the file is then written by root, so the cluster user
// needs no access to where it goes.
#pragma once

#include <chrono>
#include <cstdint>
#include <string>

#include "common/status.h"

namespace tw {

// The binaries folder of the installed PostgreSQL whose major version is `server_major` (pg_dump
// refuses servers newer than itself), else of the newest one installed (13 or newer).
// FailedPrecondition naming the package to install when there is none.
StatusOr<std::string> PostgresBinDirFor(int server_major);

// The server's major version (150018 -> 15).
StatusOr<int> ServerMajorVersion(const std::string& conninfo);

struct BackupOptions {
  std::string conninfo;
  std::string pg_bin_dir;  // where pg_dump is
  std::string file;        // the archive to write
  bool overwrite = false;  // replace an existing file (--force)
  std::chrono::milliseconds timeout{std::chrono::hours(12)};
};

struct BackupResult {
  int64_t bytes = 0;
  std::chrono::milliseconds duration{0};
};

// pg_dump --format=custom --schema=tw into FILE.tmp (mode 0600: the dump holds webhook secrets),
// then renamed to FILE, so FILE is only ever a complete archive. AlreadyExists when FILE exists
// and !overwrite; the tool's own message when it fails.
StatusOr<BackupResult> BackupDatabase(const BackupOptions& options);

struct RestoreOptions {
  std::string conninfo;
  std::string pg_bin_dir;  // where pg_restore is
  std::string file;
  // Replace the target's schema tw (every TransferWatch table and its data) when it has one
  // (--force). Without it a target with TransferWatch tables is refused.
  bool replace = false;
  std::chrono::milliseconds timeout{std::chrono::hours(12)};
};

struct RestoreResult {
  int replaced_tables = 0;  // the target's tables that the restore replaced (replace)
  std::chrono::milliseconds duration{0};
};

// Checks that FILE is a pg_dump custom-format archive of a TransferWatch schema (NotFound for a
// missing file, InvalidArgument for anything else), that the target holds no schema tw tables
// (FailedPrecondition unless replace), then runs pg_restore --no-owner --no-acl in a single
// transaction. With replace, the old schema is renamed aside first and dropped only after the
// restore succeeded (renamed back when it failed): a failed restore leaves the target as it
// was. The caller checks the restored schema's version with the migrator.
StatusOr<RestoreResult> RestoreDatabase(const RestoreOptions& options);

}  // namespace tw
