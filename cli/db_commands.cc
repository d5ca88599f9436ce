#include "cli/db_commands.h"

#include <cstdio>
#include <nlohmann/json.hpp>

#include "common/time_util.h"
#include "store/migrations.h"
#include "store/pg_backup.h"

namespace tw::cli {
namespace {

StatusOr<std::string> ToolsDir(const MaintenanceTarget& target) {
  if (!target.pg_bin_dir.empty()) return target.pg_bin_dir;
  TW_ASSIGN_OR_RETURN(int major, ServerMajorVersion(target.conninfo));
  return PostgresBinDirFor(major);
}

std::string Seconds(std::chrono::milliseconds d) {
  char text[32];
  std::snprintf(text, sizeof(text), "%.1f s", static_cast<double>(d.count()) / 1000.0);
  return text;
}

StatusOr<std::chrono::milliseconds> ParseAge(const std::string& flag, const std::string& text) {
  auto age = ParseDuration(text);
  if (!age.ok()) return InvalidArgumentError(flag + ": " + age.status().message());
  return *age;
}

}  // namespace

std::string HumanBytes(int64_t bytes) {
  static const char* kUnits[] = {"KiB", "MiB", "GiB", "TiB"};
  if (bytes < 1024) return std::to_string(bytes) + " B";
  double value = static_cast<double>(bytes);
  int unit = -1;
  while (value >= 1024 && unit < 3) {
    value /= 1024;
    ++unit;
  }
  char text[32];
  std::snprintf(text, sizeof(text), value < 10 ? "%.2f %s" : "%.1f %s", value, kUnits[unit]);
  return text;
}

Status DbBackupCommand(MaintenanceTarget& target, const DbBackupOptions& options) {
  TW_ASSIGN_OR_RETURN(auto known, EmbeddedMigrations());
  // A database newer than this program is still backed up (the version is then not shown); one
  // without TransferWatch's schema has nothing to back up.
  std::optional<int> schema_version;
  if (auto schema = target.store.GetSchemaStatus(known); schema.ok()) {
    if (schema->applied.empty()) {
      return FailedPreconditionError(
          "the database has no TransferWatch schema yet: there is nothing to back up");
    }
    schema_version = schema->applied.back().version;
  } else if (schema.status().code() != StatusCode::kFailedPrecondition) {
    return schema.status();
  }
  TW_ASSIGN_OR_RETURN(std::string bin_dir, ToolsDir(target));
  BackupOptions backup;
  backup.conninfo = target.conninfo;
  backup.pg_bin_dir = bin_dir;
  backup.file = options.file;
  backup.overwrite = options.force;
  TW_ASSIGN_OR_RETURN(BackupResult result, BackupDatabase(backup));
  if (target.format == OutputFormat::kTable) {
    target.out << "backed up the database"
               << (schema_version ? " (schema version " + std::to_string(*schema_version) + ")"
                                  : std::string())
               << " to " << options.file << ": " << HumanBytes(result.bytes) << " in "
               << Seconds(result.duration) << "\n";
    return OkStatus();
  }
  nlohmann::ordered_json object;
  object["file"] = options.file;
  object["bytes"] = result.bytes;
  object["seconds"] = static_cast<double>(result.duration.count()) / 1000.0;
  object["schema_version"] = OrNull(schema_version);
  object["pg_dump"] = bin_dir + "/pg_dump";
  PrintObject(object, target.format, target.out);
  return OkStatus();
}

Status DbRestoreCommand(MaintenanceTarget& target, const DbRestoreOptions& options) {
  TW_ASSIGN_OR_RETURN(std::string bin_dir, ToolsDir(target));
  RestoreOptions restore;
  restore.conninfo = target.conninfo;
  restore.pg_bin_dir = bin_dir;
  restore.file = options.file;
  restore.replace = options.force;
  TW_ASSIGN_OR_RETURN(RestoreResult result, RestoreDatabase(restore));
  // What came back, judged by the migrator like any database this program opens.
  TW_ASSIGN_OR_RETURN(auto known, EmbeddedMigrations());
  auto schema = target.store.GetSchemaStatus(known);
  if (!schema.ok()) {
    return Status(schema.status().code(),
                  "restored " + options.file +
                      ", but this program cannot use it: " + schema.status().message());
  }
  int version = schema->applied.empty() ? 0 : schema->applied.back().version;
  TW_ASSIGN_OR_RETURN(StoreCounts counts, target.store.Counts());
  if (target.format == OutputFormat::kTable) {
    target.out << "restored " << options.file << " in " << Seconds(result.duration)
               << (result.replaced_tables > 0
                       ? " (replacing " + std::to_string(result.replaced_tables) + " tables)"
                       : std::string())
               << ": schema version " << version << ", " << counts.checkpoints << " checkpoints, "
               << counts.datasets << " datasets, " << counts.evaluations << " evaluations\n";
    if (!schema->pending.empty()) {
      target.out << schema->pending.size()
                 << " migration(s) pending: the next command applies them (or `transferwatch db "
                    "migrate`)\n";
    }
    return OkStatus();
  }
  nlohmann::ordered_json object;
  object["file"] = options.file;
  object["seconds"] = static_cast<double>(result.duration.count()) / 1000.0;
  object["replaced_tables"] = result.replaced_tables;
  object["schema_version"] = version;
  object["pending_migrations"] = schema->pending.size();
  object["checkpoints"] = counts.checkpoints;
  object["datasets"] = counts.datasets;
  object["evaluations"] = counts.evaluations;
  PrintObject(object, target.format, target.out);
  return OkStatus();
}

Status GcCommand(MaintenanceTarget& target, const GcCommandOptions& options, TimePoint now) {
  GcOptions gc;
  TW_ASSIGN_OR_RETURN(gc.per_sample_older_than,
                      ParseAge("--per-sample-older-than", options.per_sample_older_than));
  TW_ASSIGN_OR_RETURN(gc.dead_jobs_older_than,
                      ParseAge("--dead-jobs-older-than", options.dead_jobs_older_than));
  TW_ASSIGN_OR_RETURN(gc.delivered_older_than,
                      ParseAge("--delivered-older-than", options.delivered_older_than));
  gc.dry_run = options.dry_run;
  gc.now = now;
  TW_ASSIGN_OR_RETURN(GcReport report, target.store.CollectGarbage(gc));

  const std::string ages[] = {options.per_sample_older_than, options.dead_jobs_older_than,
                              options.delivered_older_than};
  const char* actions[] = {"deleted", "error history dropped",
                           "deliveries deleted, payload emptied"};
  Listing listing;
  listing.list_name = "gc";
  listing.columns = {{"category", "category"}, {"older_than", "older than"},
                     {"cutoff", "cutoff"},     {"rows", report.dry_run ? "would go" : "gone"},
                     {"unit", "of"},           {"deliveries", "deliveries"},
                     {"bytes", "bytes"},       {"kept", "kept"},
                     {"action", "action"}};
  int64_t total = 0;
  for (size_t i = 0; i < report.categories.size(); ++i) {
    const GcCategory& c = report.categories[i];
    total += c.bytes;
    listing.rows.push_back(
        {c.name, i < 3 ? ages[i] : "", FormatIso8601Utc(c.cutoff), c.rows, c.unit,
         c.unit == "events" ? nlohmann::json(c.extra_rows) : nlohmann::json(nullptr), c.bytes,
         c.kept_rows, i < 3 ? actions[i] : ""});
  }
  if (target.format == OutputFormat::kJson) {
    nlohmann::ordered_json doc =
        nlohmann::ordered_json::parse(RenderListing(listing, target.format));
    doc["dry_run"] = report.dry_run;
    doc["bytes"] = total;
    target.out << doc.dump(2) << "\n";
    return OkStatus();
  }
  target.out << RenderListing(listing, target.format);
  if (target.format == OutputFormat::kTable) {
    target.out << (report.dry_run ? "would free " : "freed ") << HumanBytes(total)
               << (report.dry_run ? " (dry run: nothing changed)" : "")
               << "; PostgreSQL reuses the space after (auto)vacuum, the files shrink only with "
                  "VACUUM FULL\n";
  }
  return OkStatus();
}

}  // namespace tw::cli
