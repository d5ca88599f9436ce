#include "store/pg_store.h"

#include <nlohmann/json.hpp>
#include <regex>
#include <sstream>

#include "common/glob.h"  // GlobToPostgresRegex, GlobLiteralPrefix
#include "common/time_util.h"
#include "store/metric_names.h"
#include "store/pg_internal.h"

namespace tw {

using pg::CheckpointFromRow;
using pg::CheckpointSelect;
using pg::FromEpochMicros;
using pg::kDisplayNameSql;
using pg::OptionalField;
using pg::PgCall;
using pg::SqlBuilder;

namespace {

// Session-level advisory lock that serialises migrations across every program on the database.
// The value is "twmigrat" in ASCII, so it is recognisable in pg_locks.
constexpr int64_t kMigrationLockKey = 0x74776d6967726174;

// A LIKE pattern matching strings that start with `prefix`.
std::string LikePrefix(const std::string& prefix) {
  std::string out;
  for (char c : prefix) {
    if (c == '%' || c == '_' || c == '\\') out += '\\';
    out += c;
  }
  return out + "%";
}

// Restricts to checkpoints whose display name (RUN/FILE, or an imported MODEL) matches `glob`.
// The exact test is the anchored regex; the glob's literal prefix first narrows the candidates
// with conditions the indexes answer. A file's display name always holds a '/', after its run's
// name (which cannot hold one), so a prefix with a '/' pins the run, and one without is a prefix
// of the run's name or of the imported model's name.
Status AddDisplayNameGlob(SqlBuilder& sql, const std::string& glob) {
  TW_ASSIGN_OR_RETURN(std::string regex, GlobToPostgresRegex(glob));
  std::string prefix = GlobLiteralPrefix(glob);
  auto slash = prefix.find('/');
  if (slash != std::string::npos) {
    sql.Where("c.origin = 'file' AND r.name = " + sql.Param(prefix.substr(0, slash)) +
              " AND c.name LIKE " + sql.Param(LikePrefix(prefix.substr(slash + 1))));
  } else if (!prefix.empty()) {
    std::string like = sql.Param(LikePrefix(prefix));
    sql.Where("((c.origin = 'import' AND c.name LIKE " + like + ") OR (c.origin = 'file' AND " +
              "r.name LIKE " + like + "))");
  }
  sql.Where(std::string("(") + kDisplayNameSql + ") ~ " + sql.Param(regex));
  return OkStatus();
}

// Restricts to checkpoints of runs whose name matches `glob` (imported models have no run).
Status AddRunGlob(SqlBuilder& sql, const std::string& glob) {
  TW_ASSIGN_OR_RETURN(std::string regex, GlobToPostgresRegex(glob));
  sql.Where("r.name ~ " + sql.Param(regex));
  return OkStatus();
}

}  // namespace

PgStore::PgStore(std::unique_ptr<Impl> impl) : impl_(std::move(impl)) {}
PgStore::~PgStore() = default;

std::string RedactConninfo(const std::string& conninfo) {
  // postgresql://user:secret@host/db -> postgresql://user:***@host/db
  static const std::regex kUriPassword(R"(^(postgres(?:ql)?://[^:/@]*:)[^@]*@)");
  // password=secret / password = 'sec ret' (a key=value conninfo)
  static const std::regex kKeyPassword(R"((^|\s)(password\s*=\s*)('(?:[^'\\]|\\.)*'|\S+))");
  // ?password=secret in a URI query
  static const std::regex kQueryPassword(R"(([?&]password=)[^&#]*)");
  std::string out = std::regex_replace(conninfo, kUriPassword, "$1***@");
  out = std::regex_replace(out, kQueryPassword, "$1***");
  out = std::regex_replace(out, kKeyPassword, "$1$2***");
  return out;
}

StatusOr<std::unique_ptr<PgStore>> PgStore::Connect(const std::string& conninfo) {
  std::unique_ptr<Impl> impl;
  Status status = PgCall("cannot connect to PostgreSQL at " + RedactConninfo(conninfo), [&] {
    impl = std::make_unique<Impl>(conninfo);
    return OkStatus();
  });
  if (!status.ok()) {
    // Whatever libpq said, failing to connect means the database is unavailable to us.
    return UnavailableError(status.message());
  }
  int server_version = impl->conn.server_version();
  if (server_version < 130000) {
    return FailedPreconditionError("PostgreSQL " + std::to_string(server_version / 10000) +
                                   " is too old: TransferWatch needs PostgreSQL 13 or newer");
  }
  return std::unique_ptr<PgStore>(new PgStore(std::move(impl)));
}

StatusOr<std::string> PgStore::ServerVersion() {
  return PgCall("reading the server version", [&]() -> StatusOr<std::string> {
    pqxx::nontransaction tx(impl_->conn);
    return "PostgreSQL " + tx.exec1("SHOW server_version")[0].as<std::string>();
  });
}

namespace {

std::vector<AppliedMigration> ReadApplied(pqxx::transaction_base& tx) {
  std::vector<AppliedMigration> applied;
  auto exists = tx.exec1("SELECT to_regclass('tw.schema_migrations') IS NOT NULL");
  if (!exists[0].as<bool>()) return applied;
  for (const auto& row : tx.exec("SELECT version, name, checksum, " TW_PG_EPOCH_MICROS(
           "applied_at") " FROM tw.schema_migrations ORDER BY version")) {
    applied.push_back(AppliedMigration{row[0].as<int>(), row[1].as<std::string>(),
                                       row[2].as<std::string>(),
                                       FromEpochMicros(row[3].as<int64_t>())});
  }
  return applied;
}

}  // namespace

StatusOr<SchemaStatus> PgStore::GetSchemaStatus(const std::vector<Migration>& known) {
  TW_ASSIGN_OR_RETURN(auto applied, PgCall("reading the schema version",
                                           [&]() -> StatusOr<std::vector<AppliedMigration>> {
                                             pqxx::read_transaction tx(impl_->conn);
                                             return ReadApplied(tx);
                                           }));
  TW_ASSIGN_OR_RETURN(auto pending, PendingMigrations(known, applied));
  SchemaStatus status;
  status.applied = std::move(applied);
  status.pending = std::move(pending);
  status.latest_known = known.empty() ? 0 : known.back().version;
  return status;
}

StatusOr<std::vector<Migration>> PgStore::Migrate(const std::vector<Migration>& known,
                                                  bool dry_run) {
  return PgCall("migrating the schema", [&]() -> StatusOr<std::vector<Migration>> {
    // libpqxx allows one transaction object per connection at a time; the advisory lock is a
    // session lock, so it outlives the statement that took it.
    pqxx::connection& conn = impl_->conn;
    pqxx::nontransaction(conn).exec_params("SELECT pg_advisory_lock($1)", kMigrationLockKey);
    struct Unlock {
      pqxx::connection& conn;
      ~Unlock() {
        try {
          pqxx::nontransaction(conn).exec_params("SELECT pg_advisory_unlock($1)",
                                                 kMigrationLockKey);
        } catch (const std::exception&) {
          // The connection is gone; the server released the session lock with it.
        }
      }
    } unlock{conn};

    std::vector<AppliedMigration> applied;
    {
      pqxx::read_transaction tx(conn);
      applied = ReadApplied(tx);
    }
    TW_ASSIGN_OR_RETURN(auto pending, PendingMigrations(known, applied));
    if (dry_run || pending.empty()) return pending;
    {
      pqxx::work tx(conn);
      tx.exec0("CREATE SCHEMA IF NOT EXISTS tw");
      tx.exec0(
          "CREATE TABLE IF NOT EXISTS tw.schema_migrations ("
          " version integer PRIMARY KEY,"
          " name text NOT NULL,"
          " checksum text NOT NULL CHECK (checksum ~ '^[0-9a-f]{64}$'),"
          " applied_at timestamptz NOT NULL DEFAULT now(),"
          " applied_by text NOT NULL DEFAULT current_user)");
      tx.commit();
    }
    for (const auto& migration : pending) {
      // The migration and its record commit together: a crash leaves it applied or not. A
      // failure names the file, so the operator knows which one rolled back.
      Status done = PgCall("migration " + migration.name + " failed", [&] {
        pqxx::work tx(conn);
        tx.exec(migration.sql);
        tx.exec_params(
            "INSERT INTO tw.schema_migrations (version, name, checksum) "
            "VALUES ($1, $2, $3)",
            migration.version, migration.name, migration.checksum);
        tx.commit();
        return OkStatus();
      });
      if (!done.ok()) return done;
    }
    return pending;
  });
}

// ---- Import ---------------------------------------------------------------------------------

// A recorded import (e) differs from a staged one (s): other numbers or another eval config
// (a snapshot that changed an entry's crop or interpolation).
#define TW_IMPORT_CHANGED                                                             \
  "(e.top1 <> s.top1 OR e.top5 IS DISTINCT FROM s.top5 OR e.metrics <> s.metrics OR " \
  "e.eval_config_id <> s.eval_config_id)"

StatusOr<ImportResult> PgStore::ImportEvaluations(const ImportBatch& batch, ImportMode mode) {
  // Each table's rows travel as one JSON document expanded by jsonb_to_recordset: one round
  // trip per table whatever the batch size, and every value is still a bound parameter.
  nlohmann::json datasets = nlohmann::json::array();
  for (const auto& d : batch.datasets) {
    datasets.push_back({{"name", d.name},
                        {"reference", d.reference ? nlohmann::json(*d.reference) : nullptr},
                        {"protocol", d.protocol_json}});
  }
  nlohmann::json models = nlohmann::json::array();
  for (const auto& m : batch.models) {
    models.push_back({{"name", m.name}, {"metadata", m.metadata_json}});
  }
  nlohmann::json configs = nlohmann::json::array();
  for (const auto& c : batch.eval_configs) {
    configs.push_back(
        {{"sha256", c.sha256}, {"hash_version", c.hash_version}, {"canonical", c.canonical}});
  }
  nlohmann::json evaluations = nlohmann::json::array();
  for (const auto& e : batch.evaluations) {
    evaluations.push_back({{"evaluation_key", e.evaluation_key},
                           {"model", e.model},
                           {"dataset", e.dataset},
                           {"eval_config_sha256", e.eval_config_sha256},
                           {"top1", e.top1},
                           {"top5", e.top5 ? nlohmann::json(*e.top5) : nullptr},
                           {"metrics", e.metrics_json},
                           {"provenance", e.provenance_json},
                           {"location", e.location},
                           {"ordinality", evaluations.size()}});
  }
  // JSON text of JSON objects: metadata/protocol/metrics/provenance are canonical JSON texts,
  // cast to jsonb in SQL ((r.x)::jsonb) so that nothing is re-serialised on the way.
  const std::string datasets_doc = datasets.dump();
  const std::string models_doc = models.dump();
  const std::string configs_doc = configs.dump();
  const std::string evaluations_doc = evaluations.dump();

  return PgCall("importing evaluations", [&]() -> StatusOr<ImportResult> {
    ImportResult result;
    pqxx::work tx(impl_->conn);
    auto created = tx.exec_params(
        "INSERT INTO tw.datasets (name, protocol) "
        "SELECT r.name, r.protocol::jsonb FROM jsonb_to_recordset($1::jsonb) "
        "  AS r(name text, protocol text) "
        "ON CONFLICT (name) DO NOTHING RETURNING id",
        datasets_doc);
    result.datasets_created = static_cast<int>(created.size());
    // A reference is filled in when missing; one the user set is never overridden.
    tx.exec_params(
        "UPDATE tw.datasets d SET reference_id = ref.id "
        "FROM jsonb_to_recordset($1::jsonb) AS r(name text, reference text) "
        "JOIN tw.datasets ref ON ref.name = r.reference "
        "WHERE d.name = r.name AND d.reference_id IS NULL AND d.id <> ref.id",
        datasets_doc);
    auto missing_reference = tx.exec_params(
        "SELECT r.name, r.reference FROM jsonb_to_recordset($1::jsonb) "
        "  AS r(name text, reference text) "
        "WHERE r.reference IS NOT NULL "
        "  AND NOT EXISTS (SELECT 1 FROM tw.datasets d WHERE d.name = r.reference) LIMIT 1",
        datasets_doc);
    if (!missing_reference.empty()) {
      return InvalidArgumentError("dataset " + missing_reference[0][0].as<std::string>() +
                                  " names reference " + missing_reference[0][1].as<std::string>() +
                                  ", which is neither registered nor part of this import");
    }

    created = tx.exec_params(
        "INSERT INTO tw.checkpoints (origin, name, import_source, metadata) "
        "SELECT 'import', r.name, $2, r.metadata::jsonb "
        "FROM jsonb_to_recordset($1::jsonb) AS r(name text, metadata text) "
        "ON CONFLICT (import_source, name) WHERE origin = 'import' DO NOTHING RETURNING id",
        models_doc, batch.source);
    result.models_created = static_cast<int>(created.size());
    if (mode == ImportMode::kUpdateChanged) {
      tx.exec_params(
          "UPDATE tw.checkpoints c SET metadata = r.metadata::jsonb "
          "FROM jsonb_to_recordset($1::jsonb) AS r(name text, metadata text) "
          "WHERE c.origin = 'import' AND c.import_source = $2 AND c.name = r.name "
          "  AND c.metadata <> r.metadata::jsonb",
          models_doc, batch.source);
    }

    created = tx.exec_params(
        "INSERT INTO tw.eval_configs (sha256, hash_version, canonical) "
        "SELECT r.sha256, r.hash_version, r.canonical "
        "FROM jsonb_to_recordset($1::jsonb) AS r(sha256 text, hash_version int, canonical text) "
        "ON CONFLICT (sha256) DO NOTHING RETURNING id",
        configs_doc);
    result.eval_configs_created = static_cast<int>(created.size());

    tx.exec_params(
        "CREATE TEMP TABLE tw_import_stage ON COMMIT DROP AS "
        "SELECT s.evaluation_key, s.top1, s.top5, s.metrics::jsonb AS metrics, "
        "       s.provenance::jsonb AS provenance, s.location, s.ordinality AS line_order, "
        "       s.model, s.dataset, "
        "       c.id AS checkpoint_id, d.id AS dataset_id, ec.id AS eval_config_id "
        "FROM jsonb_to_recordset($1::jsonb) AS s(evaluation_key text, "
        "     model text, dataset text, eval_config_sha256 text, top1 float8, top5 float8, "
        "     metrics text, provenance text, location text, ordinality bigint) "
        "LEFT JOIN tw.checkpoints c ON c.origin = 'import' AND c.import_source = $2 "
        "     AND c.name = s.model "
        "LEFT JOIN tw.datasets d ON d.name = s.dataset "
        "LEFT JOIN tw.eval_configs ec ON ec.sha256 = s.eval_config_sha256",
        evaluations_doc, batch.source);
    auto unresolved = tx.exec(
        "SELECT location FROM tw_import_stage "
        "WHERE checkpoint_id IS NULL OR dataset_id IS NULL OR eval_config_id IS NULL LIMIT 1");
    if (!unresolved.empty()) {
      return InternalError(unresolved[0][0].as<std::string>() +
                           ": the batch names a model, dataset or eval config it does not hold");
    }
    auto duplicate = tx.exec(
        "SELECT (array_agg(location ORDER BY line_order))[1], "
        "       (array_agg(location ORDER BY line_order))[2] FROM tw_import_stage "
        "GROUP BY evaluation_key HAVING count(*) > 1 LIMIT 1");
    if (!duplicate.empty()) {
      return InvalidArgumentError(duplicate[0][1].as<std::string>() +
                                  ": the same evaluation appears again (first at " +
                                  duplicate[0][0].as<std::string>() + ")");
    }
    // Recorded evaluations whose numbers differ from this import's.
    auto changed = tx.exec(
        "SELECT s.location, s.model, s.dataset, e.top1, s.top1, e.top5, s.top5, "
        "       e.provenance->>'file', count(*) OVER () "
        "FROM tw_import_stage s JOIN tw.evaluations e USING (evaluation_key) "
        "WHERE " TW_IMPORT_CHANGED " ORDER BY s.line_order LIMIT 1");
    if (!changed.empty() && mode == ImportMode::kAddNew) {
      const auto& row = changed[0];
      std::string message = row[0].as<std::string>() + ": " + row[1].as<std::string>() + " on " +
                            row[2].as<std::string>() + " is already recorded with top1 " +
                            row[3].as<std::string>() + "/top5 " +
                            (row[5].is_null() ? "-" : row[5].as<std::string>());
      if (!row[7].is_null()) message += " (from " + row[7].as<std::string>() + ")";
      message += "; this import says top1 " + row[4].as<std::string>() + "/top5 " +
                 (row[6].is_null() ? "-" : row[6].as<std::string>()) + ". " +
                 row[8].as<std::string>() +
                 " recorded evaluation(s) differ; nothing was imported. Re-run with --update to "
                 "replace them";
      return FailedPreconditionError(message);
    }
    if (mode == ImportMode::kUpdateChanged) {
      auto updated = tx.exec0(
          "UPDATE tw.evaluations e SET top1 = s.top1, top5 = s.top5, metrics = s.metrics, "
          "       provenance = s.provenance, eval_config_id = s.eval_config_id "
          "FROM tw_import_stage s WHERE e.evaluation_key = s.evaluation_key "
          "AND " TW_IMPORT_CHANGED);
      result.evaluations_updated = static_cast<int>(updated.affected_rows());
    }
    auto inserted = tx.exec0(
        "INSERT INTO tw.evaluations (evaluation_key, checkpoint_id, dataset_id, eval_config_id,"
        "  source, top1, top5, metrics, provenance) "
        "SELECT evaluation_key, checkpoint_id, dataset_id, eval_config_id, 'import', top1, top5,"
        "  metrics, provenance FROM tw_import_stage "
        "ON CONFLICT (evaluation_key) DO NOTHING");
    result.evaluations_inserted = static_cast<int>(inserted.affected_rows());
    result.evaluations_unchanged = static_cast<int>(batch.evaluations.size()) -
                                   result.evaluations_inserted - result.evaluations_updated;
    tx.commit();
    return result;
  });
}

// ---- Datasets -------------------------------------------------------------------------------

namespace {

constexpr const char* kDatasetSelect =
    "SELECT d.id, d.name, ref.name, d.protocol::text, d.manifest_sha256, d.num_samples, "
    "  (SELECT count(*) FROM tw.evaluations e WHERE e.dataset_id = d.id), "
    "  " TW_PG_EPOCH_MICROS(
        "d.created_at") " FROM tw.datasets d LEFT JOIN tw.datasets ref ON ref.id = d.reference_id ";

DatasetInfo DatasetFromRow(const pqxx::row& row) {
  DatasetInfo d;
  d.id = row[0].as<int64_t>();
  d.name = row[1].as<std::string>();
  d.reference = OptionalField<std::string>(row[2]);
  d.protocol_json = row[3].as<std::string>();
  d.manifest_sha256 = OptionalField<std::string>(row[4]);
  d.num_samples = OptionalField<int>(row[5]);
  d.evaluations = row[6].as<int64_t>();
  d.created_at = FromEpochMicros(row[7].as<int64_t>());
  return d;
}

}  // namespace

StatusOr<std::vector<DatasetInfo>> PgStore::ListDatasets() {
  return PgCall("listing datasets", [&]() -> StatusOr<std::vector<DatasetInfo>> {
    pqxx::read_transaction tx(impl_->conn);
    std::vector<DatasetInfo> out;
    for (const auto& row : tx.exec(std::string(kDatasetSelect) + "ORDER BY d.name")) {
      out.push_back(DatasetFromRow(row));
    }
    return out;
  });
}

StatusOr<DatasetInfo> PgStore::GetDataset(const std::string& name) {
  return PgCall("reading dataset " + name, [&]() -> StatusOr<DatasetInfo> {
    pqxx::read_transaction tx(impl_->conn);
    auto rows = tx.exec_params(std::string(kDatasetSelect) + "WHERE d.name = $1", name);
    if (rows.empty()) return NotFoundError("dataset '" + name + "' is not registered");
    return DatasetFromRow(rows[0]);
  });
}

// ---- Checkpoints ----------------------------------------------------------------------------

StatusOr<std::vector<CheckpointInfo>> PgStore::ListCheckpoints(const CheckpointFilter& filter) {
  SqlBuilder sql;
  if (filter.origin) sql.Where("c.origin = " + sql.Param(*filter.origin));
  if (filter.name_glob) TW_RETURN_IF_ERROR(AddDisplayNameGlob(sql, *filter.name_glob));
  if (filter.run_glob) TW_RETURN_IF_ERROR(AddRunGlob(sql, *filter.run_glob));
  if (filter.run) sql.Where("r.name = " + sql.Param(*filter.run));
  std::string text = CheckpointSelect() + sql.WhereClause() + " ORDER BY 3, c.id";
  if (filter.limit) text += " LIMIT " + sql.Param(std::to_string(*filter.limit)) + "::bigint";
  return PgCall("listing checkpoints", [&]() -> StatusOr<std::vector<CheckpointInfo>> {
    pqxx::read_transaction tx(impl_->conn);
    std::vector<CheckpointInfo> out;
    for (const auto& row : sql.Exec(tx, text)) out.push_back(CheckpointFromRow(row));
    return out;
  });
}

StatusOr<std::vector<CheckpointInfo>> PgStore::FindCheckpoints(const CheckpointSelector& selector) {
  return PgCall("looking up a checkpoint", [&]() -> StatusOr<std::vector<CheckpointInfo>> {
    pqxx::read_transaction tx(impl_->conn);
    pqxx::result rows;
    if (selector.sha256_prefix) {
      rows = tx.exec_params(CheckpointSelect() +
                                "WHERE c.sha256 IS NOT NULL "
                                "  AND left(c.sha256, length($1)) = $1 ORDER BY c.id LIMIT 20",
                            *selector.sha256_prefix);
    } else if (selector.run && selector.file) {
      rows = tx.exec_params(CheckpointSelect() + "WHERE r.name = $1 AND c.name = $2 ORDER BY c.id",
                            *selector.run, *selector.file);
    } else if (selector.model) {
      rows = tx.exec_params(
          CheckpointSelect() + "WHERE c.origin = 'import' AND c.name = $1 ORDER BY c.id",
          *selector.model);
    } else {
      return InvalidArgumentError("empty checkpoint selector");
    }
    std::vector<CheckpointInfo> out;
    for (const auto& row : rows) out.push_back(CheckpointFromRow(row));
    return out;
  });
}

// ---- Results --------------------------------------------------------------------------------

StatusOr<std::vector<int64_t>> PgStore::DatasetIds(const std::vector<std::string>& names) {
  return PgCall("looking up datasets", [&]() -> StatusOr<std::vector<int64_t>> {
    pqxx::read_transaction tx(impl_->conn);
    std::vector<int64_t> ids;
    for (const auto& name : names) {
      auto rows = tx.exec_params("SELECT id FROM tw.datasets WHERE name = $1", name);
      if (rows.empty()) return NotFoundError("dataset '" + name + "' is not registered");
      ids.push_back(rows[0][0].as<int64_t>());
    }
    return ids;
  });
}

StatusOr<std::vector<ResultRow>> PgStore::QueryResults(const ResultQuery& query) {
  SqlBuilder sql;
  // Dataset names become ids first, so that a typo is a clear NotFound, not an empty result.
  if (!query.datasets.empty()) {
    TW_ASSIGN_OR_RETURN(std::vector<int64_t> ids, DatasetIds(query.datasets));
    if (ids.size() == 1) {
      sql.Where("e.dataset_id = " + sql.Param(std::to_string(ids[0])) + "::bigint");
    } else {
      std::string array = "{";
      for (int64_t id : ids) array += (array.size() > 1 ? "," : "") + std::to_string(id);
      sql.Where("e.dataset_id = ANY(" + sql.Param(array + "}") + "::bigint[])");
    }
  }
  if (query.model_glob) TW_RETURN_IF_ERROR(AddDisplayNameGlob(sql, *query.model_glob));
  if (query.run_glob) TW_RETURN_IF_ERROR(AddRunGlob(sql, *query.run_glob));
  if (query.since) {
    sql.Where("e.created_at >= " + sql.Param(FormatIso8601Utc(*query.since)) + "::timestamptz");
  }
  if (query.checkpoint_id) {
    sql.Where("e.checkpoint_id = " + sql.Param(std::to_string(*query.checkpoint_id)) + "::bigint");
  }
  if (query.img_size) {
    sql.Where("(ec.config->>'img_size')::int = " + sql.Param(std::to_string(*query.img_size)) +
              "::int");
  }

  // ORDER BY comes from a fixed set of texts; a metric name itself is a bound parameter. Each
  // order is one the indexes deliver directly (created_at, id) or (dataset_id, top1), with the
  // id as the tie-breaker, so a LIMIT reads only what it returns.
  std::string sort_value = "NULL::float8";
  std::string order_by;
  if (query.sort_metric.empty()) {
    order_by = query.order == SortOrder::kWorstFirst ? "e.created_at, e.id"
                                                     : "e.created_at DESC, e.id DESC";
  } else {
    TW_RETURN_IF_ERROR(ValidateMetricName(query.sort_metric));
    bool ascending = (query.order == SortOrder::kWorstFirst) != LowerIsBetter(query.sort_metric);
    std::string direction = ascending ? " ASC" : " DESC";
    if (query.sort_metric == "top1") {
      order_by = "e.top1" + direction;  // NOT NULL, so no NULLS clause: the index matches
    } else if (query.sort_metric == "top5") {
      order_by = "e.top5" + direction + " NULLS LAST";
    } else if (query.sort_metric == "nll" || query.sort_metric == "ece") {
      // Columns with (dataset_id, metric) indexes; NULLs (unknown) sort last either way.
      sort_value = "e." + query.sort_metric;
      order_by = sort_value + direction + " NULLS LAST";
    } else {
      sort_value = "(e.metrics->>" + sql.Param(query.sort_metric) + ")::float8";
      order_by = sort_value + direction + " NULLS LAST";
    }
    order_by += ", e.id";
  }
  std::string text = std::string("SELECT e.id, c.id, ") + kDisplayNameSql +
                     ", c.origin, r.name, c.sha256, d.name, (ec.config->>'img_size')::int, "
                     "  (ec.config->>'crop_pct')::float8, ec.config->>'interpolation', ec.sha256, "
                     "  e.top1, e.top5, " +
                     sort_value +
                     ", (c.metadata->>'param_count_m')::float8, e.source, e.provenance::text, "
                     "e.nll, e.ece, e.metrics::text, " TW_PG_EPOCH_MICROS(
                         "e.created_at") " FROM tw.evaluations e "
                                         "JOIN tw.checkpoints c ON c.id = e.checkpoint_id "
                                         "LEFT JOIN tw.runs r ON r.id = c.run_id "
                                         "JOIN tw.datasets d ON d.id = e.dataset_id "
                                         "JOIN tw.eval_configs ec ON ec.id = e.eval_config_id" +
                     sql.WhereClause() + " ORDER BY " + order_by;
  if (query.limit) text += " LIMIT " + sql.Param(std::to_string(*query.limit)) + "::bigint";

  return PgCall("querying results", [&]() -> StatusOr<std::vector<ResultRow>> {
    pqxx::read_transaction tx(impl_->conn);
    pqxx::result rows = sql.Exec(tx, text);
    std::vector<ResultRow> out;
    out.reserve(rows.size());
    for (const auto& row : rows) {
      ResultRow r;
      r.evaluation_id = row[0].as<int64_t>();
      r.checkpoint_id = row[1].as<int64_t>();
      r.checkpoint = row[2].as<std::string>();
      r.origin = row[3].as<std::string>();
      r.run = OptionalField<std::string>(row[4]);
      r.sha256 = OptionalField<std::string>(row[5]);
      r.dataset = row[6].as<std::string>();
      r.img_size = OptionalField<int>(row[7]);
      r.crop_pct = OptionalField<double>(row[8]);
      r.interpolation = OptionalField<std::string>(row[9]);
      r.eval_config_sha256 = row[10].as<std::string>();
      r.top1 = row[11].as<double>();
      r.top5 = OptionalField<double>(row[12]);
      r.sort_value = OptionalField<double>(row[13]);
      r.param_count_m = OptionalField<double>(row[14]);
      r.source = row[15].as<std::string>();
      r.provenance_json = row[16].as<std::string>();
      r.nll = OptionalField<double>(row[17]);
      r.ece = OptionalField<double>(row[18]);
      r.metrics_json = row[19].as<std::string>();
      r.created_at = FromEpochMicros(row[20].as<int64_t>());
      out.push_back(std::move(r));
    }
    return out;
  });
}

StatusOr<std::vector<PoolRow>> PgStore::QueryPool(int64_t variant_dataset_id,
                                                  int64_t reference_dataset_id) {
  return PgCall("reading the pool", [&]() -> StatusOr<std::vector<PoolRow>> {
    pqxx::read_transaction tx(impl_->conn);
    // A pool entry is a checkpoint at an image size (MODEL@IMG_SIZE): the newest evaluation of
    // it on each dataset counts, whatever else differs between the two configs (batch size,
    // device, or a crop that a newer import changed).
    std::string newest =
        "SELECT DISTINCT ON (e.checkpoint_id, img_size) e.checkpoint_id, "
        "  COALESCE((ec.config->>'img_size')::int, 0) AS img_size, e.top1 "
        "FROM tw.evaluations e JOIN tw.eval_configs ec ON ec.id = e.eval_config_id "
        "WHERE e.dataset_id = $DATASET "
        "ORDER BY e.checkpoint_id, img_size, e.created_at DESC, e.id DESC";
    auto for_dataset = [&](const char* param) {
      std::string sql = newest;
      sql.replace(sql.find("$DATASET"), 8, param);
      return sql;
    };
    std::string sql = "WITH v AS (" + for_dataset("$1") + "), rf AS (" + for_dataset("$2") +
                      ") SELECT c.id, " + kDisplayNameSql +
                      ", NULLIF(v.img_size, 0), rf.top1, v.top1, c.origin, r.name "
                      "FROM v JOIN rf USING (checkpoint_id, img_size) "
                      "JOIN tw.checkpoints c ON c.id = v.checkpoint_id "
                      "LEFT JOIN tw.runs r ON r.id = c.run_id "
                      "ORDER BY 2, 3";
    std::vector<PoolRow> out;
    for (const auto& row : tx.exec_params(sql, variant_dataset_id, reference_dataset_id)) {
      PoolRow p;
      p.checkpoint_id = row[0].as<int64_t>();
      p.checkpoint = row[1].as<std::string>();
      p.img_size = OptionalField<int>(row[2]);
      p.reference = row[3].as<double>();
      p.variant = row[4].as<double>();
      p.origin = row[5].as<std::string>();
      p.run = OptionalField<std::string>(row[6]);
      out.push_back(std::move(p));
    }
    return out;
  });
}

StatusOr<StoreCounts> PgStore::Counts() {
  return PgCall("counting records", [&]() -> StatusOr<StoreCounts> {
    pqxx::read_transaction tx(impl_->conn);
    auto row = tx.exec1(
        "SELECT (SELECT count(*) FROM tw.runs), (SELECT count(*) FROM tw.checkpoints), "
        "(SELECT count(*) FROM tw.datasets), (SELECT count(*) FROM tw.eval_configs), "
        "(SELECT count(*) FROM tw.evaluations)");
    StoreCounts counts;
    counts.runs = row[0].as<int64_t>();
    counts.checkpoints = row[1].as<int64_t>();
    counts.datasets = row[2].as<int64_t>();
    counts.eval_configs = row[3].as<int64_t>();
    counts.evaluations = row[4].as<int64_t>();
    return counts;
  });
}

}  // namespace tw
