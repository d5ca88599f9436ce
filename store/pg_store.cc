#include "store/pg_store.h"

#include <nlohmann/json.hpp>

#include <regex>
#include <sstream>

#include "common/glob.h"
#include "common/time_util.h"
#include "store/metric_names.h"
#include "store/pg_internal.h"

namespace tw {

using pg::NullableText;
using pg::OptionalField;
using pg::PgCall;

namespace {

// Session-level advisory lock that serialises migrations across every program on the database.
// The value is "twmigrat" in ASCII, so it is recognisable in pg_locks.
constexpr int64_t kMigrationLockKey = 0x74776d6967726174;

constexpr const char* kDisplayNameSql =
    "CASE WHEN c.origin = 'file' THEN r.name || '/' || c.name ELSE c.name END";

TimePoint FromEpochMicros(int64_t micros) {
  return TimePoint(std::chrono::duration_cast<TimePoint::duration>(
      std::chrono::microseconds(micros)));
}

std::vector<int> ParseIntList(const pqxx::field& field) {
  std::vector<int> out;
  if (field.is_null()) return out;
  std::string text = field.c_str();
  std::stringstream stream(text);
  std::string item;
  while (std::getline(stream, item, ',')) {
    if (!item.empty()) out.push_back(std::stoi(item));
  }
  return out;
}

std::optional<std::string> GlobRegex(const std::optional<std::string>& glob, Status* status) {
  if (!glob) return std::nullopt;
  auto regex = GlobToPostgresRegex(*glob);
  if (!regex.ok()) {
    *status = regex.status();
    return std::nullopt;
  }
  return *regex;
}

std::optional<std::string> IntParam(const std::optional<int64_t>& value) {
  if (!value) return std::nullopt;
  return std::to_string(*value);
}

}  // namespace

struct PgStore::Impl {
  explicit Impl(const std::string& conninfo) : conn(conninfo) {}
  pqxx::connection conn;
};

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
  for (const auto& row : tx.exec(
           "SELECT version, name, checksum, " TW_PG_EPOCH_MICROS("applied_at")
           " FROM tw.schema_migrations ORDER BY version")) {
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
      // The migration and its record commit together: a crash leaves it applied or not.
      pqxx::work tx(conn);
      tx.exec(migration.sql);
      tx.exec_params("INSERT INTO tw.schema_migrations (version, name, checksum) "
                     "VALUES ($1, $2, $3)",
                     migration.version, migration.name, migration.checksum);
      tx.commit();
    }
    return pending;
  });
}

// ---- Import ---------------------------------------------------------------------------------

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
                           {"location", e.location}});
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
                                  " names reference " +
                                  missing_reference[0][1].as<std::string>() +
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
        "       s.provenance::jsonb AS provenance, s.location, s.model, s.dataset, "
        "       c.id AS checkpoint_id, d.id AS dataset_id, ec.id AS eval_config_id "
        "FROM jsonb_to_recordset($1::jsonb) AS s(evaluation_key text, model text, dataset text,"
        "     eval_config_sha256 text, top1 float8, top5 float8, metrics text, provenance text,"
        "     location text) "
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
        "SELECT min(location), max(location) FROM tw_import_stage "
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
        "WHERE e.top1 <> s.top1 OR e.top5 IS DISTINCT FROM s.top5 OR e.metrics <> s.metrics "
        "ORDER BY s.location LIMIT 1");
    if (!changed.empty() && mode == ImportMode::kAddNew) {
      const auto& row = changed[0];
      std::string message = row[0].as<std::string>() + ": " + row[1].as<std::string>() +
                            " on " + row[2].as<std::string>() + " is already recorded with top1 " +
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
          "       provenance = s.provenance "
          "FROM tw_import_stage s WHERE e.evaluation_key = s.evaluation_key "
          "  AND (e.top1 <> s.top1 OR e.top5 IS DISTINCT FROM s.top5 OR e.metrics <> s.metrics)");
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
    "  " TW_PG_EPOCH_MICROS("d.created_at")
    " FROM tw.datasets d LEFT JOIN tw.datasets ref ON ref.id = d.reference_id ";

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

namespace {

std::string CheckpointSelect() {
  return std::string("SELECT c.id, c.origin, ") + kDisplayNameSql +
         ", r.name, c.name, c.sha256, c.import_source, c.step, "
         "  (c.metadata->>'param_count_m')::float8, "
         "  (SELECT string_agg(DISTINCT ec.config->>'img_size', ',') FROM tw.evaluations e "
         "     JOIN tw.eval_configs ec ON ec.id = e.eval_config_id "
         "     WHERE e.checkpoint_id = c.id AND ec.config ? 'img_size'), "
         "  (SELECT count(*) FROM tw.evaluations e WHERE e.checkpoint_id = c.id), "
         "  " TW_PG_EPOCH_MICROS("c.created_at")
         " FROM tw.checkpoints c LEFT JOIN tw.runs r ON r.id = c.run_id ";
}

CheckpointInfo CheckpointFromRow(const pqxx::row& row) {
  CheckpointInfo c;
  c.id = row[0].as<int64_t>();
  c.origin = row[1].as<std::string>();
  c.display_name = row[2].as<std::string>();
  c.run = OptionalField<std::string>(row[3]);
  c.name = row[4].as<std::string>();
  c.sha256 = OptionalField<std::string>(row[5]);
  c.import_source = OptionalField<std::string>(row[6]);
  c.step = OptionalField<int64_t>(row[7]);
  c.param_count_m = OptionalField<double>(row[8]);
  c.img_sizes = ParseIntList(row[9]);
  std::sort(c.img_sizes.begin(), c.img_sizes.end());
  c.evaluations = row[10].as<int64_t>();
  c.created_at = FromEpochMicros(row[11].as<int64_t>());
  return c;
}

}  // namespace

StatusOr<std::vector<CheckpointInfo>> PgStore::ListCheckpoints(const CheckpointFilter& filter) {
  Status glob_status;
  auto name_regex = GlobRegex(filter.name_glob, &glob_status);
  auto run_regex = GlobRegex(filter.run_glob, &glob_status);
  TW_RETURN_IF_ERROR(glob_status);
  return PgCall("listing checkpoints", [&]() -> StatusOr<std::vector<CheckpointInfo>> {
    pqxx::read_transaction tx(impl_->conn);
    std::string sql = CheckpointSelect() +
                      "WHERE ($1::text IS NULL OR c.origin = $1) "
                      "  AND ($2::text IS NULL OR (" +
                      kDisplayNameSql +
                      ") ~ $2) "
                      "  AND ($3::text IS NULL OR r.name ~ $3) "
                      "ORDER BY 3, c.id LIMIT $4::bigint";
    std::vector<CheckpointInfo> out;
    for (const auto& row : tx.exec_params(sql, NullableText(filter.origin),
                                          NullableText(name_regex), NullableText(run_regex),
                                          NullableText(IntParam(filter.limit)))) {
      out.push_back(CheckpointFromRow(row));
    }
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

StatusOr<std::vector<ResultRow>> PgStore::QueryResults(const ResultQuery& query) {
  Status glob_status;
  auto name_regex = GlobRegex(query.model_glob, &glob_status);
  auto run_regex = GlobRegex(query.run_glob, &glob_status);
  TW_RETURN_IF_ERROR(glob_status);

  // Dataset names become ids first, so that a typo is a clear NotFound, not an empty result.
  std::optional<std::string> dataset_ids;
  if (!query.datasets.empty()) {
    std::string array = "{";
    for (const auto& name : query.datasets) {
      TW_ASSIGN_OR_RETURN(DatasetInfo dataset, GetDataset(name));
      if (array.size() > 1) array += ",";
      array += std::to_string(dataset.id);
    }
    dataset_ids = array + "}";
  }

  // ORDER BY comes from a fixed set of texts; the metric name itself is a bound parameter.
  std::optional<std::string> metric_key;
  std::string order_by;
  std::string sort_value = "NULL::float8";
  if (query.sort_metric.empty()) {
    order_by = "e.created_at DESC, 3, 8, 7, e.id";
  } else {
    TW_RETURN_IF_ERROR(ValidateMetricName(query.sort_metric));
    bool lower_better = LowerIsBetter(query.sort_metric);
    bool ascending = (query.order == SortOrder::kWorstFirst) != lower_better;
    std::string direction = ascending ? " ASC NULLS LAST" : " DESC NULLS LAST";
    if (query.sort_metric == "top1") {
      order_by = "e.top1" + direction;
    } else if (query.sort_metric == "top5") {
      order_by = "e.top5" + direction;
    } else {
      metric_key = query.sort_metric;
      sort_value = "(e.metrics->>$8)::float8";
      order_by = sort_value + direction;
    }
    order_by += ", 3, 8, 7, e.id";
  }
  std::string sql = std::string("SELECT e.id, c.id, ") + kDisplayNameSql +
                    ", c.origin, r.name, c.sha256, d.name, (ec.config->>'img_size')::int, "
                    "  (ec.config->>'crop_pct')::float8, ec.config->>'interpolation', ec.sha256, "
                    "  e.top1, e.top5, " +
                    sort_value +
                    ", (c.metadata->>'param_count_m')::float8, e.source, " TW_PG_EPOCH_MICROS(
                        "e.created_at") " FROM tw.evaluations e "
                                        "JOIN tw.checkpoints c ON c.id = e.checkpoint_id "
                                        "LEFT JOIN tw.runs r ON r.id = c.run_id "
                                        "JOIN tw.datasets d ON d.id = e.dataset_id "
                                        "JOIN tw.eval_configs ec ON ec.id = e.eval_config_id "
                                        "WHERE ($1::bigint[] IS NULL OR e.dataset_id = ANY($1)) "
                                        "  AND ($2::text IS NULL OR (" +
                    kDisplayNameSql +
                    ") ~ $2) "
                    "  AND ($3::text IS NULL OR r.name ~ $3) "
                    "  AND ($4::timestamptz IS NULL OR e.created_at >= $4) "
                    "  AND ($5::bigint IS NULL OR e.checkpoint_id = $5) "
                    "  AND ($6::int IS NULL OR (ec.config->>'img_size')::int = $6) "
                    "ORDER BY " +
                    order_by + " LIMIT $7::bigint";
  std::optional<std::string> since;
  if (query.since) since = FormatIso8601Utc(*query.since);
  std::optional<std::string> img_size;
  if (query.img_size) img_size = std::to_string(*query.img_size);

  return PgCall("querying results", [&]() -> StatusOr<std::vector<ResultRow>> {
    pqxx::read_transaction tx(impl_->conn);
    pqxx::result rows;
    if (metric_key) {
      rows = tx.exec_params(sql, NullableText(dataset_ids), NullableText(name_regex),
                            NullableText(run_regex), NullableText(since),
                            NullableText(IntParam(query.checkpoint_id)), NullableText(img_size),
                            NullableText(IntParam(query.limit)), *metric_key);
    } else {
      rows = tx.exec_params(sql, NullableText(dataset_ids), NullableText(name_regex),
                            NullableText(run_regex), NullableText(since),
                            NullableText(IntParam(query.checkpoint_id)), NullableText(img_size),
                            NullableText(IntParam(query.limit)));
    }
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
      r.created_at = FromEpochMicros(row[16].as<int64_t>());
      out.push_back(std::move(r));
    }
    return out;
  });
}

StatusOr<std::vector<PoolRow>> PgStore::QueryPool(int64_t variant_dataset_id,
                                                  int64_t reference_dataset_id) {
  return PgCall("reading the pool", [&]() -> StatusOr<std::vector<PoolRow>> {
    pqxx::read_transaction tx(impl_->conn);
    // DISTINCT ON keeps the newest evaluation of each (checkpoint, eval config).
    std::string sql =
        std::string(
            "WITH v AS (SELECT DISTINCT ON (checkpoint_id, eval_config_id) checkpoint_id, "
            "    eval_config_id, top1 FROM tw.evaluations WHERE dataset_id = $1 "
            "    ORDER BY checkpoint_id, eval_config_id, created_at DESC, id DESC), "
            "  rf AS (SELECT DISTINCT ON (checkpoint_id, eval_config_id) checkpoint_id, "
            "    eval_config_id, top1 FROM tw.evaluations WHERE dataset_id = $2 "
            "    ORDER BY checkpoint_id, eval_config_id, created_at DESC, id DESC) "
            "SELECT c.id, ") +
        kDisplayNameSql +
        ", (ec.config->>'img_size')::int, rf.top1, v.top1 "
        "FROM v JOIN rf USING (checkpoint_id, eval_config_id) "
        "JOIN tw.checkpoints c ON c.id = v.checkpoint_id "
        "LEFT JOIN tw.runs r ON r.id = c.run_id "
        "JOIN tw.eval_configs ec ON ec.id = v.eval_config_id "
        "ORDER BY 2, 3";
    std::vector<PoolRow> out;
    for (const auto& row : tx.exec_params(sql, variant_dataset_id, reference_dataset_id)) {
      PoolRow p;
      p.checkpoint_id = row[0].as<int64_t>();
      p.checkpoint = row[1].as<std::string>();
      p.img_size = OptionalField<int>(row[2]);
      p.reference = row[3].as<double>();
      p.variant = row[4].as<double>();
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
