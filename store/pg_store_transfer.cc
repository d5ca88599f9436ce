// PgStore: transfer checks, baselines and the outbox (schemas/sql/0004_transfer_checks.sql).

#include "common/glob.h"
#include "common/time_util.h"
#include "store/pg_internal.h"
#include "store/pg_store.h"

namespace tw {

using pg::DoubleParam;
using pg::FromEpochMicros;
using pg::NullableText;
using pg::OptionalField;
using pg::ParseTextArray;
using pg::PgCall;
using pg::SqlBuilder;
using pg::TextArray;

namespace {

// A text[] literal for a parameter: {"a","b"} with quotes and backslashes escaped.

}  // namespace

StatusOr<std::vector<ReferenceCheckpoint>> PgStore::ReferenceCheckpoints(
    int64_t checkpoint_id, const std::string& primary_dataset) {
  return PgCall("finding reference checkpoints",
                [&]() -> StatusOr<std::vector<ReferenceCheckpoint>> {
                  pqxx::read_transaction tx(impl_->conn);
                  // previous: the run's checkpoint just before this one (by step when both
                  // have one, else by registration). best: the run's highest top-1 on the
                  // primary dataset among checkpoints registered before this one.
                  auto rows = tx.exec_params(
                      "WITH me AS (SELECT id, run_id, step, created_at FROM tw.checkpoints "
                      "  WHERE id = $1), "
                      "previous AS (SELECT c.id FROM tw.checkpoints c, me "
                      "  WHERE c.run_id = me.run_id AND c.id <> me.id AND c.origin = 'file' AND "
                      "  (CASE WHEN c.step IS NOT NULL AND me.step IS NOT NULL "
                      "        THEN c.step < me.step ELSE c.created_at < me.created_at END) "
                      "  ORDER BY c.step DESC NULLS LAST, c.created_at DESC, c.id DESC LIMIT 1), "
                      "best AS (SELECT c.id FROM tw.checkpoints c "
                      "  JOIN tw.evaluations e ON e.checkpoint_id = c.id "
                      "  JOIN tw.datasets d ON d.id = e.dataset_id, me "
                      "  WHERE c.run_id = me.run_id AND c.id <> me.id AND d.name = $2 "
                      "  AND c.created_at <= me.created_at "
                      "  AND EXISTS (SELECT 1 FROM tw.predictions p WHERE p.evaluation_id = e.id) "
                      "  ORDER BY e.top1 DESC, c.id LIMIT 1), "
                      "refs AS (SELECT id, 'previous' AS kind FROM previous "
                      "  UNION ALL SELECT id, 'best' FROM best "
                      "  UNION ALL SELECT checkpoint_id, 'baseline' FROM tw.baselines "
                      "    WHERE checkpoint_id <> $1) "
                      "SELECT refs.id, coalesce(r.name || '/' || c.name, c.name), "
                      "  array_agg(DISTINCT refs.kind ORDER BY refs.kind) "
                      "FROM refs JOIN tw.checkpoints c ON c.id = refs.id "
                      "LEFT JOIN tw.runs r ON r.id = c.run_id "
                      "GROUP BY refs.id, r.name, c.name ORDER BY refs.id",
                      checkpoint_id, primary_dataset);
                  std::vector<ReferenceCheckpoint> out;
                  for (const auto& row : rows) {
                    ReferenceCheckpoint ref;
                    ref.checkpoint_id = row[0].as<int64_t>();
                    ref.display_name = row[1].as<std::string>();
                    ref.kinds = ParseTextArray(row[2]);
                    out.push_back(std::move(ref));
                  }
                  return out;
                });
}

StatusOr<std::vector<PairableEvaluation>> PgStore::PairableEvaluations(int64_t checkpoint_id) {
  return PgCall("reading a checkpoint's evaluations",
                [&]() -> StatusOr<std::vector<PairableEvaluation>> {
                  pqxx::read_transaction tx(impl_->conn);
                  auto rows = tx.exec_params(
                      "SELECT DISTINCT ON (e.dataset_id) e.id, d.id, d.name, d.reference_id, "
                      "  e.manifest_sha256, ec.sha256, e.top1 "
                      "FROM tw.evaluations e JOIN tw.datasets d ON d.id = e.dataset_id "
                      "JOIN tw.eval_configs ec ON ec.id = e.eval_config_id "
                      "WHERE e.checkpoint_id = $1 "
                      "  AND EXISTS (SELECT 1 FROM tw.predictions p WHERE p.evaluation_id = e.id) "
                      "  AND e.manifest_sha256 IS NOT NULL "
                      "ORDER BY e.dataset_id, e.created_at DESC, e.id DESC",
                      checkpoint_id);
                  std::vector<PairableEvaluation> out;
                  for (const auto& row : rows) {
                    PairableEvaluation e;
                    e.evaluation_id = row[0].as<int64_t>();
                    e.dataset_id = row[1].as<int64_t>();
                    e.dataset = row[2].as<std::string>();
                    e.reference_dataset_id = OptionalField<int64_t>(row[3]);
                    e.manifest_sha256 = row[4].as<std::string>();
                    e.eval_config_sha256 = row[5].as<std::string>();
                    e.top1 = row[6].as<double>();
                    out.push_back(std::move(e));
                  }
                  return out;
                });
}

StatusOr<std::vector<ChecksDue>> PgStore::ListChecksDue(const ChecksDueFilter& filter) {
  if (filter.limit < 1) return InvalidArgumentError("limit must be at least 1");
  if (filter.older_than.count() < 0) return InvalidArgumentError("older_than must not be negative");
  return PgCall("listing owed transfer checks", [&]() -> StatusOr<std::vector<ChecksDue>> {
    pqxx::read_transaction tx(impl_->conn);
    // Microseconds since the epoch, exactly (extract gives a numeric): ClearChecksDue compares.
    auto rows = tx.exec_params(
        "SELECT c.id, r.name, r.name || '/' || c.name, c.sha256, c.step, "
        "  (extract(epoch FROM c.checks_due_at) * 1000000)::bigint "
        "FROM tw.checkpoints c JOIN tw.runs r ON r.id = c.run_id "
        "WHERE c.checks_due_at IS NOT NULL "
        "  AND c.checks_due_at <= clock_timestamp() - $1::bigint * interval '1 millisecond' "
        "  AND ($2::bigint IS NULL OR c.id = $2) "
        "ORDER BY c.checks_due_at, c.id LIMIT $3",
        static_cast<int64_t>(filter.older_than.count()), filter.checkpoint_id, filter.limit);
    std::vector<ChecksDue> out;
    for (const auto& row : rows) {
      ChecksDue due;
      due.checkpoint_id = row[0].as<int64_t>();
      due.run = row[1].as<std::string>();
      due.display_name = row[2].as<std::string>();
      due.sha256 = row[3].as<std::string>();
      due.step = OptionalField<int64_t>(row[4]);
      due.due_micros = row[5].as<int64_t>();
      out.push_back(std::move(due));
    }
    return out;
  });
}

Status PgStore::ClearChecksDue(int64_t checkpoint_id, int64_t due_micros) {
  return PgCall("clearing owed transfer checks", [&]() -> Status {
    pqxx::work tx(impl_->conn);
    tx.exec_params(
        "UPDATE tw.checkpoints SET checks_due_at = NULL WHERE id = $1 "
        "  AND (extract(epoch FROM checks_due_at) * 1000000)::bigint = $2",
        checkpoint_id, due_micros);
    tx.commit();
    return OkStatus();
  });
}

StatusOr<int> PgStore::RecordTransferChecks(const std::vector<TransferCheckRow>& rows,
                                            const std::vector<OutboxEvent>& events) {
  return PgCall("recording transfer checks", [&]() -> StatusOr<int> {
    pqxx::work tx(impl_->conn);
    int inserted = 0;
    for (const TransferCheckRow& r : rows) {
      auto result = tx.exec_params(
          "INSERT INTO tw.transfer_checks (checkpoint_id, reference_checkpoint_id, "
          "  reference_kinds, variant_dataset_id, reference_dataset_id, variant_evaluation_id, "
          "  variant_reference_evaluation_id, verdict, alpha, min_gain, ref_n, ref_only_new, "
          "  ref_only_old, ref_delta, ref_ci_low, ref_ci_high, ref_p, ref_p_mid, var_n, "
          "  var_only_new, var_only_old, var_delta, var_ci_low, var_ci_high, var_p, var_p_mid, "
          "  var_p_holm, holm_family_size) "
          "VALUES ($1, $2, $3::text[], $4, $5, $6, $7, $8, $9::float8, $10::float8, $11, $12, "
          "  $13, $14::float8, $15::float8, $16::float8, $17::float8, $18::float8, $19, $20, "
          "  $21, $22::float8, $23::float8, $24::float8, $25::float8, $26::float8, $27::float8, "
          "  $28) "
          "ON CONFLICT (checkpoint_id, reference_checkpoint_id, variant_dataset_id) DO NOTHING "
          "RETURNING id",
          r.checkpoint_id, r.reference_checkpoint_id, TextArray(r.reference_kinds),
          r.variant_dataset_id, r.reference_dataset_id, r.variant_evaluation_id,
          r.variant_reference_evaluation_id, r.verdict, DoubleParam(r.alpha),
          DoubleParam(r.min_gain), r.reference.n, r.reference.only_new, r.reference.only_old,
          DoubleParam(r.reference.delta), DoubleParam(r.reference.ci_low),
          DoubleParam(r.reference.ci_high), DoubleParam(r.reference.p),
          DoubleParam(r.reference.p_mid), r.variant.n, r.variant.only_new, r.variant.only_old,
          DoubleParam(r.variant.delta), DoubleParam(r.variant.ci_low),
          DoubleParam(r.variant.ci_high), DoubleParam(r.variant.p), DoubleParam(r.variant.p_mid),
          DoubleParam(r.variant_p_holm), r.holm_family_size);
      inserted += static_cast<int>(result.size());
    }
    for (const OutboxEvent& e : events) {
      auto outbox = tx.exec_params(
          "INSERT INTO tw.outbox (event_id, event_type, dedup_key, payload) "
          "VALUES ($1, $2, $3, $4::jsonb) ON CONFLICT (dedup_key) DO NOTHING RETURNING id",
          e.event_id, e.event_type, e.dedup_key, e.payload_json);
      if (outbox.empty()) continue;  // produced before: never twice
      tx.exec_params(
          "INSERT INTO tw.deliveries (outbox_id, webhook_id) "
          "SELECT $1, w.id FROM tw.webhooks w WHERE $2 = ANY (w.events)",
          outbox[0][0].as<int64_t>(), e.event_type);
    }
    if (!events.empty()) tx.exec("SELECT pg_notify('tw_outbox', 'queued')");
    tx.commit();
    return inserted;
  });
}

StatusOr<std::vector<TransferCheckInfo>> PgStore::ListFlags(const FlagFilter& filter) {
  return PgCall("listing flags", [&]() -> StatusOr<std::vector<TransferCheckInfo>> {
    pqxx::read_transaction tx(impl_->conn);
    SqlBuilder sql;
    if (filter.verdict) {
      sql.Where("t.verdict = " + sql.Param(*filter.verdict));
    } else {
      sql.Where("t.verdict <> 'none'");
    }
    if (filter.run_glob) {
      TW_ASSIGN_OR_RETURN(std::string regex, GlobToPostgresRegex(*filter.run_glob));
      sql.Where("r.name ~ " + sql.Param(regex));
    }
    if (filter.since) {
      sql.Where("t.created_at >= " + sql.Param(FormatIso8601Utc(*filter.since)) + "::timestamptz");
    }
    if (!filter.include_acknowledged) sql.Where("t.acknowledged_at IS NULL");
    std::string limit = sql.Param(std::to_string(filter.limit));
    static const std::string kSelect =
        "SELECT t.id, r.name || '/' || c.name, coalesce(rr.name || '/' || rc.name, rc.name), "
        "  t.reference_kinds, vd.name, rd.name, t.verdict, t.ref_n, t.ref_only_new, "
        "  t.ref_only_old, t.ref_delta, t.ref_ci_low, t.ref_ci_high, t.ref_p, t.ref_p_mid, "
        "  t.var_n, t.var_only_new, t.var_only_old, t.var_delta, t.var_ci_low, t.var_ci_high, "
        "  t.var_p, t.var_p_mid, t.var_p_holm, t.holm_family_size, " TW_PG_EPOCH_MICROS(
            "t.acknowledged_at") ", " TW_PG_EPOCH_MICROS("t.created_at")
        " FROM tw.transfer_checks t JOIN tw.checkpoints c ON c.id = t.checkpoint_id "
        " JOIN tw.runs r ON r.id = c.run_id "
        " JOIN tw.checkpoints rc ON rc.id = t.reference_checkpoint_id "
        " LEFT JOIN tw.runs rr ON rr.id = rc.run_id "
        " JOIN tw.datasets vd ON vd.id = t.variant_dataset_id "
        " JOIN tw.datasets rd ON rd.id = t.reference_dataset_id ";
    auto rows =
        sql.Exec(tx, kSelect + sql.WhereClause() + " ORDER BY t.created_at DESC, t.id DESC LIMIT " +
                         limit + "::bigint");
    std::vector<TransferCheckInfo> out;
    for (const auto& row : rows) {
      TransferCheckInfo f;
      f.id = row[0].as<int64_t>();
      f.checkpoint = row[1].as<std::string>();
      f.reference_checkpoint = row[2].as<std::string>();
      f.reference_kinds = ParseTextArray(row[3]);
      f.variant = row[4].as<std::string>();
      f.reference_dataset = row[5].as<std::string>();
      f.verdict = row[6].as<std::string>();
      f.reference = PairedNumbers{row[7].as<int>(),     row[8].as<int>(),     row[9].as<int>(),
                                  row[10].as<double>(), row[11].as<double>(), row[12].as<double>(),
                                  row[13].as<double>(), row[14].as<double>()};
      f.variant_numbers = PairedNumbers{
          row[15].as<int>(),    row[16].as<int>(),    row[17].as<int>(),    row[18].as<double>(),
          row[19].as<double>(), row[20].as<double>(), row[21].as<double>(), row[22].as<double>()};
      f.variant_p_holm = row[23].as<double>();
      f.holm_family_size = row[24].as<int>();
      if (!row[25].is_null()) f.acknowledged_at = FromEpochMicros(row[25].as<int64_t>());
      f.created_at = FromEpochMicros(row[26].as<int64_t>());
      out.push_back(std::move(f));
    }
    return out;
  });
}

Status PgStore::AcknowledgeFlag(int64_t id, const std::string& who) {
  return PgCall("acknowledging flag " + std::to_string(id), [&]() -> Status {
    pqxx::work tx(impl_->conn);
    auto rows = tx.exec_params(
        "UPDATE tw.transfer_checks SET acknowledged_at = coalesce(acknowledged_at, now()), "
        "  acknowledged_by = coalesce(acknowledged_by, $2) "
        "WHERE id = $1 AND verdict <> 'none' RETURNING id",
        id, who);
    if (rows.empty()) return NotFoundError("no flag with id " + std::to_string(id));
    tx.commit();
    return OkStatus();
  });
}

Status PgStore::PinBaseline(int64_t checkpoint_id, const std::optional<std::string>& note) {
  return PgCall("pinning a baseline", [&]() -> Status {
    pqxx::work tx(impl_->conn);
    tx.exec_params(
        "INSERT INTO tw.baselines (checkpoint_id, note) VALUES ($1, $2) "
        "ON CONFLICT (checkpoint_id) DO UPDATE SET note = EXCLUDED.note",
        checkpoint_id, NullableText(note));
    tx.commit();
    return OkStatus();
  });
}

Status PgStore::UnpinBaseline(int64_t checkpoint_id) {
  return PgCall("unpinning a baseline", [&]() -> Status {
    pqxx::work tx(impl_->conn);
    auto rows = tx.exec_params(
        "DELETE FROM tw.baselines WHERE checkpoint_id = $1 RETURNING checkpoint_id", checkpoint_id);
    if (rows.empty()) return NotFoundError("that checkpoint is not a pinned baseline");
    tx.commit();
    return OkStatus();
  });
}

StatusOr<std::vector<ReferenceCheckpoint>> PgStore::ListBaselines() {
  return PgCall("listing baselines", [&]() -> StatusOr<std::vector<ReferenceCheckpoint>> {
    pqxx::read_transaction tx(impl_->conn);
    std::vector<ReferenceCheckpoint> out;
    for (const auto& row :
         tx.exec("SELECT b.checkpoint_id, coalesce(r.name || '/' || c.name, c.name) "
                 "FROM tw.baselines b JOIN tw.checkpoints c ON c.id = b.checkpoint_id "
                 "LEFT JOIN tw.runs r ON r.id = c.run_id ORDER BY b.pinned_at, b.checkpoint_id")) {
      out.push_back(
          ReferenceCheckpoint{row[0].as<int64_t>(), row[1].as<std::string>(), {"baseline"}});
    }
    return out;
  });
}

}  // namespace tw
