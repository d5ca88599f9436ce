// PgStore: retention (store/gc.h). Each category is one transaction that counts what goes and
// deletes (or compacts) exactly the rows it counted, under the same cutoff.

#include "common/time_util.h"
#include "store/gc.h"
#include "store/pg_internal.h"
#include "store/pg_store.h"

namespace tw {

using pg::PgCall;

namespace {

// The cutoff parameter $1 (epoch microseconds) as a timestamptz, exactly.
constexpr const char* kCutoff = TW_PG_TIMESTAMP_FROM_MICROS("$1");

// Per-sample predictions of evaluations recorded before the cutoff, but never a pinned
// baseline's: every new checkpoint is paired with those.
std::string PredictionsWhere() {
  return std::string("e.id = p.evaluation_id AND e.created_at < ") + kCutoff +
         " AND NOT EXISTS (SELECT 1 FROM tw.baselines b WHERE b.checkpoint_id = e.checkpoint_id)";
}

// Dead jobs finished before the cutoff that still carry their error history.
std::string DeadJobsWhere() {
  return std::string("j.state = 'dead' AND coalesce(j.finished_at, j.updated_at) < ") + kCutoff +
         " AND j.errors <> '[]'::jsonb";
}

// Events created before the cutoff, not emptied yet, whose every delivery was delivered before
// the cutoff (an event without deliveries had no destination subscribed).
std::string DeliveredEventsWhere() {
  return std::string("o.created_at < ") + kCutoff +
         " AND o.payload <> '{}'::jsonb AND NOT EXISTS (SELECT 1 FROM tw.deliveries d "
         "  WHERE d.outbox_id = o.id AND (d.state <> 'delivered' OR d.delivered_at IS NULL "
         "  OR d.delivered_at >= " +
         kCutoff + "))";
}

}  // namespace

StatusOr<GcReport> PgStore::CollectGarbage(const GcOptions& options) {
  GcReport report;
  report.dry_run = options.dry_run;

  {
    GcCategory c{"per-sample predictions", "evaluations",
                 options.now - options.per_sample_older_than};
    TW_RETURN_IF_ERROR(PgCall("pruning per-sample predictions", [&] {
      pqxx::work tx(impl_->conn);
      const int64_t cutoff = pg::ToEpochMicros(c.cutoff);
      auto figures = tx.exec_params1(
          "SELECT count(*), coalesce(sum(pg_column_size(p.data) + pg_column_size(p.digest) + "
          "  pg_column_size(p.format) + pg_column_size(p.num_samples) + "
          "  pg_column_size(p.evaluation_id)), 0)::bigint "
          "FROM tw.predictions p, tw.evaluations e WHERE " +
              PredictionsWhere(),
          cutoff);
      c.rows = figures[0].as<int64_t>();
      c.bytes = figures[1].as<int64_t>();
      c.kept_rows = tx.exec1("SELECT count(*) FROM tw.predictions")[0].as<int64_t>() - c.rows;
      if (!options.dry_run && c.rows > 0) {
        auto deleted = tx.exec_params(
            "DELETE FROM tw.predictions p USING tw.evaluations e WHERE " + PredictionsWhere(),
            cutoff);
        if (static_cast<int64_t>(deleted.affected_rows()) != c.rows) {
          return InternalError("per-sample predictions: counted " + std::to_string(c.rows) +
                               " rows, deleted " + std::to_string(deleted.affected_rows()));
        }
        tx.commit();
      }
      return OkStatus();
    }));
    report.categories.push_back(c);
  }

  {
    GcCategory c{"dead jobs", "jobs", options.now - options.dead_jobs_older_than};
    TW_RETURN_IF_ERROR(PgCall("compacting dead jobs", [&] {
      pqxx::work tx(impl_->conn);
      const int64_t cutoff = pg::ToEpochMicros(c.cutoff);
      // What goes is the error history beyond the empty array that stays.
      auto figures = tx.exec_params1(
          "SELECT count(*), coalesce(sum(pg_column_size(j.errors) - "
          "  pg_column_size('[]'::jsonb)), 0)::bigint FROM tw.jobs j WHERE " +
              DeadJobsWhere(),
          cutoff);
      c.rows = figures[0].as<int64_t>();
      c.bytes = figures[1].as<int64_t>();
      c.kept_rows =
          tx.exec1("SELECT count(*) FROM tw.jobs WHERE state = 'dead'")[0].as<int64_t>() - c.rows;
      if (!options.dry_run && c.rows > 0) {
        // updated_at stays: the job did not change state, and `jobs list` orders by it.
        auto compacted = tx.exec_params(
            "UPDATE tw.jobs j SET errors = '[]'::jsonb WHERE " + DeadJobsWhere(), cutoff);
        if (static_cast<int64_t>(compacted.affected_rows()) != c.rows) {
          return InternalError("dead jobs: counted " + std::to_string(c.rows) + ", compacted " +
                               std::to_string(compacted.affected_rows()));
        }
        tx.commit();
      }
      return OkStatus();
    }));
    report.categories.push_back(c);
  }

  {
    GcCategory c{"delivered webhook events", "events", options.now - options.delivered_older_than};
    TW_RETURN_IF_ERROR(PgCall("pruning delivered webhook events", [&] {
      pqxx::work tx(impl_->conn);
      const int64_t cutoff = pg::ToEpochMicros(c.cutoff);
      // Lock the candidates and their deliveries, then count again: a replay (which turns a
      // delivery back to pending) either committed before the lock, and the event no longer
      // qualifies, or waits until this transaction is over.
      auto candidates = tx.exec_params(
          "SELECT o.id FROM tw.outbox o WHERE " + DeliveredEventsWhere() + " FOR UPDATE", cutoff);
      std::string ids = "{";
      for (const auto& row : candidates) {
        if (ids.size() > 1) ids += ',';
        ids += row[0].c_str();
      }
      ids += "}";
      tx.exec_params("SELECT 1 FROM tw.deliveries WHERE outbox_id = ANY ($1::bigint[]) FOR UPDATE",
                     ids);
      auto events = tx.exec_params(
          "SELECT o.id, pg_column_size(o.payload) - pg_column_size('{}'::jsonb) "
          "FROM tw.outbox o WHERE o.id = ANY ($2::bigint[]) AND " +
              DeliveredEventsWhere(),
          cutoff, ids);
      ids = "{";
      for (const auto& row : events) {
        if (ids.size() > 1) ids += ',';
        ids += row[0].c_str();
        c.bytes += row[1].as<int64_t>();
      }
      ids += "}";
      c.rows = static_cast<int64_t>(events.size());
      auto deliveries = tx.exec_params1(
          "SELECT count(*), coalesce(sum(pg_column_size(d.*)), 0)::bigint FROM tw.deliveries d "
          "WHERE d.outbox_id = ANY ($1::bigint[])",
          ids);
      c.extra_rows = deliveries[0].as<int64_t>();
      c.bytes += deliveries[1].as<int64_t>();
      c.kept_rows =
          tx.exec1("SELECT count(*) FROM tw.outbox WHERE payload <> '{}'::jsonb")[0].as<int64_t>() -
          c.rows;
      if (!options.dry_run && c.rows > 0) {
        tx.exec_params("DELETE FROM tw.deliveries WHERE outbox_id = ANY ($1::bigint[])", ids);
        tx.exec_params("UPDATE tw.outbox SET payload = '{}'::jsonb WHERE id = ANY ($1::bigint[])",
                       ids);
        tx.commit();
      }
      return OkStatus();
    }));
    report.categories.push_back(c);
  }
  return report;
}

}  // namespace tw
