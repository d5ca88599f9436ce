// PgStore: datasets with manifests, checkpoint files and evaluator results.
#include <nlohmann/json.hpp>

#include "store/pg_internal.h"
#include "store/pg_store.h"

namespace tw {

using pg::CheckpointFromRow;
using pg::CheckpointSelect;
using pg::DoubleParam;
using pg::FromEpochMicros;
using pg::NullableText;
using pg::OptionalField;
using pg::PgCall;

namespace {

constexpr const char* kVersionSelect =
    "SELECT d.id, d.name, ref.name, v.version, v.manifest_sha256, m.files_sha256, m.num_files, "
    "  m.total_bytes, v.root, v.default_config::text, " TW_PG_EPOCH_MICROS("v.created_at")
    ", v.id FROM tw.datasets d JOIN tw.dataset_versions v ON v.dataset_id = d.id "
    " JOIN tw.manifests m ON m.sha256 = v.manifest_sha256 "
    " LEFT JOIN tw.datasets ref ON ref.id = d.reference_id ";

DatasetVersionInfo VersionFromRow(const pqxx::row& row) {
  DatasetVersionInfo v;
  v.dataset_id = row[0].as<int64_t>();
  v.name = row[1].as<std::string>();
  v.reference = OptionalField<std::string>(row[2]);
  v.version = row[3].as<int>();
  v.manifest_sha256 = row[4].as<std::string>();
  v.files_sha256 = row[5].as<std::string>();
  v.num_files = row[6].as<int>();
  v.total_bytes = row[7].as<int64_t>();
  v.root = row[8].as<std::string>();
  v.default_config_json = row[9].as<std::string>();
  v.created_at = FromEpochMicros(row[10].as<int64_t>());
  v.version_id = row[11].as<int64_t>();
  return v;
}

std::optional<std::string> OptionalDouble(const std::optional<double>& value) {
  if (!value) return std::nullopt;
  return DoubleParam(*value);
}

}  // namespace

StatusOr<RegistrationResult> PgStore::RegisterDataset(const DatasetRegistration& reg) {
  return PgCall("registering dataset " + reg.name, [&]() -> StatusOr<RegistrationResult> {
    pqxx::work tx(impl_->conn);
    // Serialises registrations of one name (two `dataset add` at once make two versions in
    // order, never a duplicate version number).
    tx.exec_params("SELECT pg_advisory_xact_lock(hashtext('tw.dataset:' || $1))", reg.name);
    std::optional<int64_t> reference_id;
    if (reg.reference && reg.create_missing_reference) {
      tx.exec_params("INSERT INTO tw.datasets (name) VALUES ($1) ON CONFLICT (name) DO NOTHING",
                     *reg.reference);
    }
    if (reg.reference) {
      auto ref = tw::pg::OptionalField<int64_t>(tx.exec_params1(
          "SELECT (SELECT id FROM tw.datasets WHERE name = $1)", *reg.reference)[0]);
      if (!ref) {
        return NotFoundError("reference dataset '" + *reg.reference + "' is not registered");
      }
      reference_id = *ref;
    }
    tx.exec_params(
        "INSERT INTO tw.manifests (sha256, canonical, files_sha256, num_files, total_bytes) "
        "VALUES ($1, $2, $3, $4, $5) ON CONFLICT (sha256) DO NOTHING",
        reg.manifest_sha256, reg.manifest_canonical, reg.files_sha256, reg.num_files,
        reg.total_bytes);

    RegistrationResult result;
    auto existing = tx.exec_params(
        "SELECT id, manifest_sha256 IS NULL, "
        "  (SELECT count(*) FROM tw.dataset_versions v WHERE v.dataset_id = d.id) "
        "FROM tw.datasets d WHERE name = $1",
        reg.name);
    if (existing.empty()) {
      result.dataset_id =
          tx.exec_params1(
                "INSERT INTO tw.datasets (name, reference_id, protocol, "
                "  manifest_sha256, num_samples) "
                "VALUES ($1, $2, $3::jsonb, $4, $5) RETURNING id",
                reg.name,
                NullableText(reference_id
                                 ? std::optional<std::string>(std::to_string(*reference_id))
                                 : std::nullopt),
                reg.protocol_json, reg.manifest_sha256, reg.num_files)[0]
              .as<int64_t>();
      result.outcome = RegistrationOutcome::kCreated;
    } else {
      result.dataset_id = existing[0][0].as<int64_t>();
      bool imported_only = existing[0][1].as<bool>() && existing[0][2].as<int64_t>() == 0;
      auto same = tx.exec_params(
          "SELECT version FROM tw.dataset_versions WHERE dataset_id = $1 AND manifest_sha256 = $2",
          result.dataset_id, reg.manifest_sha256);
      if (!same.empty()) {
        // The same files again: keep the version, refresh where they are and the defaults.
        result.version = same[0][0].as<int>();
        result.outcome = RegistrationOutcome::kUnchanged;
        tx.exec_params(
            "UPDATE tw.dataset_versions SET root = $3, default_config = $4::jsonb "
            "WHERE dataset_id = $1 AND manifest_sha256 = $2",
            result.dataset_id, reg.manifest_sha256, reg.root, reg.default_config_json);
      } else {
        result.outcome =
            imported_only ? RegistrationOutcome::kAttached : RegistrationOutcome::kNewVersion;
      }
      // A registration states the dataset's protocol and reference as of now.
      tx.exec_params(
          "UPDATE tw.datasets SET protocol = $2::jsonb, num_samples = $3, "
          "  reference_id = COALESCE($4::bigint, reference_id) WHERE id = $1",
          result.dataset_id, reg.protocol_json, reg.num_files,
          NullableText(reference_id ? std::optional<std::string>(std::to_string(*reference_id))
                                    : std::nullopt));
    }
    if (result.outcome != RegistrationOutcome::kUnchanged) {
      result.version =
          tx.exec_params1(
                "INSERT INTO tw.dataset_versions (dataset_id, version, "
                "  manifest_sha256, root, default_config) "
                "SELECT $1, COALESCE(max(version), 0) + 1, $2, $3, $4::jsonb "
                "FROM tw.dataset_versions WHERE dataset_id = $1 RETURNING version",
                result.dataset_id, reg.manifest_sha256, reg.root, reg.default_config_json)[0]
              .as<int>();
    }
    // What was just registered is current, also when it is an older version's content again
    // (files restored after a change): evaluations then run against that version's manifest.
    tx.exec_params("UPDATE tw.datasets SET manifest_sha256 = $2 WHERE id = $1", result.dataset_id,
                   reg.manifest_sha256);
    tx.commit();
    return result;
  });
}

StatusOr<DatasetVersionInfo> PgStore::GetDatasetVersion(const std::string& name) {
  return PgCall("reading dataset " + name, [&]() -> StatusOr<DatasetVersionInfo> {
    pqxx::read_transaction tx(impl_->conn);
    auto rows = tx.exec_params(
        std::string(kVersionSelect) + "WHERE d.name = $1 AND v.manifest_sha256 = d.manifest_sha256",
        name);
    if (!rows.empty()) return VersionFromRow(rows[0]);
    auto known = tx.exec_params("SELECT 1 FROM tw.datasets WHERE name = $1", name);
    if (known.empty()) return NotFoundError("dataset '" + name + "' is not registered");
    return NotFoundError("dataset '" + name +
                         "' has no files yet (it is known from imported results): register "
                         "them with `transferwatch dataset add " +
                         name + " DIR`");
  });
}

StatusOr<std::vector<DatasetVersionInfo>> PgStore::ListDatasetVersions(const std::string& name) {
  return PgCall("reading dataset " + name, [&]() -> StatusOr<std::vector<DatasetVersionInfo>> {
    pqxx::read_transaction tx(impl_->conn);
    std::vector<DatasetVersionInfo> out;
    for (const auto& row : tx.exec_params(
             std::string(kVersionSelect) + "WHERE d.name = $1 ORDER BY v.version", name)) {
      out.push_back(VersionFromRow(row));
    }
    return out;
  });
}

StatusOr<std::string> PgStore::GetManifest(const std::string& manifest_sha256) {
  return PgCall("reading manifest", [&]() -> StatusOr<std::string> {
    pqxx::read_transaction tx(impl_->conn);
    auto rows =
        tx.exec_params("SELECT canonical FROM tw.manifests WHERE sha256 = $1", manifest_sha256);
    if (rows.empty()) return NotFoundError("no manifest " + manifest_sha256);
    return rows[0][0].as<std::string>();
  });
}

Status PgStore::RemoveDataset(const std::string& name) {
  return PgCall("removing dataset " + name, [&]() -> Status {
    pqxx::work tx(impl_->conn);
    auto row = tx.exec_params(
        "SELECT id, (SELECT count(*) FROM tw.evaluations e WHERE e.dataset_id = d.id), "
        "  (SELECT string_agg(o.name, ', ') FROM tw.datasets o WHERE o.reference_id = d.id) "
        "FROM tw.datasets d WHERE name = $1 FOR UPDATE",
        name);
    if (row.empty()) return NotFoundError("dataset '" + name + "' is not registered");
    int64_t evaluations = row[0][1].as<int64_t>();
    if (evaluations > 0) {
      return FailedPreconditionError("dataset '" + name + "' has " + std::to_string(evaluations) +
                                     " recorded evaluation(s); recorded results are not deleted");
    }
    if (!row[0][2].is_null()) {
      return FailedPreconditionError("dataset '" + name + "' is the reference of " +
                                     row[0][2].as<std::string>());
    }
    tx.exec_params("DELETE FROM tw.datasets WHERE id = $1", row[0][0].as<int64_t>());
    tx.commit();
    return OkStatus();
  });
}

StatusOr<CheckpointInfo> PgStore::RegisterCheckpointFile(const CheckpointFileRegistration& reg) {
  return PgCall(
      "registering checkpoint " + reg.run + "/" + reg.file_name, [&]() -> StatusOr<CheckpointInfo> {
        pqxx::work tx(impl_->conn);
        tx.exec_params("INSERT INTO tw.runs (name) VALUES ($1) ON CONFLICT DO NOTHING", reg.run);
        std::optional<std::string> step;
        if (reg.step) step = std::to_string(*reg.step);
        // The hash is the identity: a copy elsewhere is the same checkpoint.
        tx.exec_params(
            "INSERT INTO tw.checkpoints (origin, sha256, run_id, name, step, "
            "  size_bytes, metadata, format) "
            "SELECT 'file', $1, r.id, $3, $4::bigint, $5, $6::jsonb, $7 FROM tw.runs r "
            "WHERE r.name = $2 ON CONFLICT (sha256) DO UPDATE "
            "  SET format = coalesce(tw.checkpoints.format, EXCLUDED.format)",
            reg.sha256, reg.run, reg.file_name, NullableText(step), reg.size_bytes,
            reg.metadata_json, NullableText(reg.format));
        auto rows = tx.exec_params(CheckpointSelect() + "WHERE c.sha256 = $1", reg.sha256);
        CheckpointInfo info = CheckpointFromRow(rows.at(0));
        if (reg.path) {
          tx.exec_params(
              "INSERT INTO tw.checkpoint_files (checkpoint_id, host, path, size_bytes, mtime_ns) "
              "VALUES ($1, $2, $3, $4, $5::bigint) "
              "ON CONFLICT (checkpoint_id, host, path) DO UPDATE SET last_seen_at = now(), "
              "  size_bytes = EXCLUDED.size_bytes, mtime_ns = EXCLUDED.mtime_ns",
              info.id, reg.host.empty() ? std::string("localhost") : reg.host, *reg.path,
              reg.size_bytes,
              NullableText(reg.mtime_ns ? std::optional<std::string>(std::to_string(*reg.mtime_ns))
                                        : std::nullopt));
        }
        tx.commit();
        return info;
      });
}

StatusOr<std::optional<int64_t>> PgStore::FindCheckpointFile(const std::string& host,
                                                             const std::string& path,
                                                             int64_t size_bytes, int64_t mtime_ns) {
  return PgCall("looking up checkpoint file " + path, [&]() -> StatusOr<std::optional<int64_t>> {
    pqxx::work tx(impl_->conn);
    auto rows = tx.exec_params(
        "UPDATE tw.checkpoint_files SET last_seen_at = now() WHERE id = ("
        "  SELECT id FROM tw.checkpoint_files WHERE host = $1 AND path = $2 AND size_bytes = $3 "
        "  AND mtime_ns = $4 ORDER BY last_seen_at DESC LIMIT 1) RETURNING checkpoint_id",
        host, path, size_bytes, mtime_ns);
    tx.commit();
    if (rows.empty()) return std::optional<int64_t>();
    return std::optional<int64_t>(rows[0][0].as<int64_t>());
  });
}

Status PgStore::SetRunArch(const std::string& run, const std::optional<std::string>& path,
                           const std::optional<std::string>& sha256) {
  return PgCall("setting the architecture of run " + run, [&]() -> Status {
    pqxx::work tx(impl_->conn);
    // Setting an architecture creates the run (arch.pt may arrive before any checkpoint).
    if (path) tx.exec_params("INSERT INTO tw.runs (name) VALUES ($1) ON CONFLICT DO NOTHING", run);
    auto rows = tx.exec_params(
        "UPDATE tw.runs SET arch_path = $2, arch_sha256 = $3 WHERE name = $1 RETURNING id", run,
        NullableText(path), NullableText(sha256));
    if (rows.empty()) return NotFoundError("run '" + run + "' is not known");
    tx.commit();
    return OkStatus();
  });
}

StatusOr<std::optional<EvaluationSummary>> PgStore::FindEvaluation(
    const std::string& evaluation_key) {
  return PgCall("looking up an evaluation", [&]() -> StatusOr<std::optional<EvaluationSummary>> {
    pqxx::read_transaction tx(impl_->conn);
    auto rows = tx.exec_params(
        "SELECT e.id, e.evaluation_key, e.checkpoint_id, d.name, e.top1, e.top5, e.num_samples, "
        "  e.nll, e.ece, e.metrics::text, e.predictions_digest, " TW_PG_EPOCH_MICROS(
            "e.created_at") " FROM tw.evaluations e JOIN tw.datasets d ON d.id = e.dataset_id "
                            "WHERE e.evaluation_key = $1",
        evaluation_key);
    if (rows.empty()) return std::optional<EvaluationSummary>();
    const auto& row = rows[0];
    EvaluationSummary s;
    s.id = row[0].as<int64_t>();
    s.evaluation_key = row[1].as<std::string>();
    s.checkpoint_id = row[2].as<int64_t>();
    s.dataset = row[3].as<std::string>();
    s.top1 = row[4].as<double>();
    s.top5 = OptionalField<double>(row[5]);
    s.num_samples = OptionalField<int>(row[6]);
    s.nll = OptionalField<double>(row[7]);
    s.ece = OptionalField<double>(row[8]);
    s.metrics_json = row[9].as<std::string>();
    s.predictions_digest = OptionalField<std::string>(row[10]);
    s.created_at = FromEpochMicros(row[11].as<int64_t>());
    return std::optional<EvaluationSummary>(std::move(s));
  });
}

namespace pg {

StatusOr<int64_t> RecordEvaluationIn(pqxx::work& tx, const EvaluationRecord& r) {
  tx.exec_params(
      "INSERT INTO tw.eval_configs (sha256, hash_version, canonical) VALUES ($1, $2, $3) "
      "ON CONFLICT (sha256) DO NOTHING",
      r.eval_config.sha256, r.eval_config.hash_version, r.eval_config.canonical);
  auto inserted = tx.exec_params(
      "INSERT INTO tw.evaluations (evaluation_key, checkpoint_id, dataset_id, eval_config_id, "
      "  manifest_sha256, arch_sha256, source, top1, top5, num_samples, nll, ece, metrics, "
      "  per_class, provenance, predictions_digest) "
      "SELECT $1, $2, d.id, ec.id, $4, $5, 'evaluator', $6::float8, $7::float8, $8, "
      "  $9::float8, $10::float8, $11::jsonb, $12::jsonb, $13::jsonb, $14 "
      "FROM tw.datasets d, tw.eval_configs ec WHERE d.name = $3 AND ec.sha256 = $15 "
      "ON CONFLICT (evaluation_key) DO NOTHING RETURNING id",
      r.evaluation_key, r.checkpoint_id, r.dataset, r.manifest_sha256, NullableText(r.arch_sha256),
      DoubleParam(r.top1), NullableText(OptionalDouble(r.top5)), r.num_samples,
      NullableText(OptionalDouble(r.nll)), NullableText(OptionalDouble(r.ece)), r.metrics_json,
      NullableText(r.per_class_json), r.provenance_json, r.predictions_digest,
      r.eval_config.sha256);
  if (inserted.empty()) {
    // Recorded already (same key, same result): the existing row wins.
    auto existing =
        tx.exec_params("SELECT id FROM tw.evaluations WHERE evaluation_key = $1", r.evaluation_key);
    if (existing.empty()) return NotFoundError("dataset '" + r.dataset + "' is not registered");
    return existing[0][0].as<int64_t>();
  }
  int64_t id = inserted[0][0].as<int64_t>();
  pqxx::binarystring data(r.predictions);
  tx.exec_params(
      "INSERT INTO tw.predictions (evaluation_id, format, num_samples, digest, data) "
      "VALUES ($1, 'twpr1', $2, $3, $4)",
      id, r.predictions_count, r.predictions_digest, data);
  return id;
}

}  // namespace pg

StatusOr<int64_t> PgStore::RecordEvaluation(const EvaluationRecord& r) {
  return PgCall("recording the evaluation of " + r.dataset, [&]() -> StatusOr<int64_t> {
    pqxx::work tx(impl_->conn);
    TW_ASSIGN_OR_RETURN(int64_t id, pg::RecordEvaluationIn(tx, r));
    tx.commit();
    return id;
  });
}

StatusOr<StoredPredictions> PgStore::GetPredictions(int64_t evaluation_id) {
  return PgCall("reading predictions", [&]() -> StatusOr<StoredPredictions> {
    pqxx::read_transaction tx(impl_->conn);
    auto rows = tx.exec_params(
        "SELECT p.format, p.num_samples, p.digest, p.data, e.manifest_sha256, "
        "  e.evaluation_key, e.arch_sha256 "
        "FROM tw.predictions p JOIN tw.evaluations e ON e.id = p.evaluation_id "
        "WHERE p.evaluation_id = $1",
        evaluation_id);
    if (rows.empty()) {
      return NotFoundError("evaluation " + std::to_string(evaluation_id) +
                           " has no per-sample predictions (imported results have none)");
    }
    StoredPredictions p;
    p.format = rows[0][0].as<std::string>();
    p.num_samples = rows[0][1].as<int>();
    p.digest = rows[0][2].as<std::string>();
    pqxx::binarystring data(rows[0][3]);
    p.data = data.str();
    p.manifest_sha256 = rows[0][4].is_null() ? "" : rows[0][4].as<std::string>();
    p.evaluation_key = rows[0][5].as<std::string>();
    p.arch_sha256 = OptionalField<std::string>(rows[0][6]);
    return p;
  });
}

}  // namespace tw
