// PgStore: the job queue (store/job_queue.h). The SQL follows River, Oban and graphile-worker:
// SKIP LOCKED claims inside MATERIALIZED CTEs, a lease token that fences every write of a
// worker, time-based rescue of expired leases. Time is always the server's now().

#include "store/pg_internal.h"
#include "store/pg_store.h"

namespace tw {

using pg::FromEpochMicros;
using pg::NullableText;
using pg::OptionalField;
using pg::PgCall;
using pg::SqlBuilder;

namespace {

// Errors kept on a job are cut to this many bytes (an evaluator's stderr can be long).
constexpr size_t kMaxErrorBytes = 4000;

std::string CutError(const std::string& error) {
  if (error.size() <= kMaxErrorBytes) return error;
  size_t cut = kMaxErrorBytes;
  while (cut > 0 && (static_cast<unsigned char>(error[cut]) & 0xC0) == 0x80) --cut;  // UTF-8
  return error.substr(0, cut) + "...";
}

std::string Millis(std::chrono::milliseconds d) { return std::to_string(d.count()); }

// An interval of `$n` milliseconds, in SQL.
std::string IntervalMs(const std::string& param) {
  return "(" + param + "::bigint * interval '1 millisecond')";
}

Status CheckLeaseToken(const std::string& token) {
  if (token.size() != 32 || token.find_first_not_of("0123456789abcdef") != std::string::npos) {
    return InvalidArgumentError("a lease token is 32 lowercase hex digits");
  }
  return OkStatus();
}

// When job $1 has just ended dead: its `eval-failed` event and a delivery per subscribed webhook,
// in the caller's transaction (one event per job and attempt). Runs in FailJob and rescue.
constexpr const char* kEvalFailedEvent =
    "WITH ev AS ("
    "  INSERT INTO tw.outbox (event_id, event_type, dedup_key, payload) "
    "  SELECT 'msg_' || upper(substr(md5(random()::text || clock_timestamp()::text), 1, 26)), "
    "    'eval-failed', 'eval-failed:' || j.id || ':' || j.attempt, "
    "    jsonb_build_object('checkpoint', r.name || '/' || c.name, 'run', r.name, "
    "      'step', c.step, 'checkpoint_sha256', c.sha256, "
    "      'error', d.name || ': ' || coalesce(j.last_error, 'failed'), "
    "      'cli_hint', 'transferwatch jobs list --state dead', "
    "      'created_at', to_char(now() AT TIME ZONE 'UTC', 'YYYY-MM-DD\"T\"HH24:MI:SS\"Z\"')) "
    "  FROM tw.jobs j JOIN tw.checkpoints c ON c.id = j.checkpoint_id "
    "  JOIN tw.runs r ON r.id = c.run_id "
    "  JOIN tw.dataset_versions v ON v.id = j.dataset_version_id "
    "  JOIN tw.datasets d ON d.id = v.dataset_id "
    "  WHERE j.id = $1 AND j.state = 'dead' "
    "  ON CONFLICT (dedup_key) DO NOTHING RETURNING id) "
    "INSERT INTO tw.deliveries (outbox_id, webhook_id) "
    "SELECT ev.id, w.id FROM ev, tw.webhooks w WHERE 'eval-failed' = ANY (w.events)";

constexpr const char* kJobSelect =
    "SELECT j.id, j.evaluation_key, j.checkpoint_id, r.name || '/' || c.name, c.sha256, d.name, "
    "  v.version, j.eval_config_sha256, j.evaluator_version, j.state, j.priority, j.attempt, "
    "  j.max_attempts, j.leased_by, " TW_PG_EPOCH_MICROS("j.lease_expires_at") ", "
    TW_PG_EPOCH_MICROS("j.run_after") ", " TW_PG_EPOCH_MICROS("j.started_at") ", "
    TW_PG_EPOCH_MICROS("j.finished_at") ", j.evaluation_id, j.last_error, j.errors::text, "
    TW_PG_EPOCH_MICROS("j.created_at") ", j.dataset_version_id, v.manifest_sha256, j.arch_sha256, "
    "  j.eval_config, j.eval_config_hash_version "
    " FROM tw.jobs j JOIN tw.checkpoints c ON c.id = j.checkpoint_id "
    " JOIN tw.runs r ON r.id = c.run_id "
    " JOIN tw.dataset_versions v ON v.id = j.dataset_version_id "
    " JOIN tw.datasets d ON d.id = v.dataset_id ";

std::optional<TimePoint> OptionalTime(const pqxx::field& field) {
  if (field.is_null()) return std::nullopt;
  return FromEpochMicros(field.as<int64_t>());
}

JobInfo JobFromRow(const pqxx::row& row) {
  JobInfo j;
  j.id = row[0].as<int64_t>();
  j.evaluation_key = row[1].as<std::string>();
  j.checkpoint_id = row[2].as<int64_t>();
  j.checkpoint = row[3].as<std::string>();
  j.checkpoint_sha256 = row[4].as<std::string>();
  j.dataset = row[5].as<std::string>();
  j.dataset_version = row[6].as<int>();
  j.eval_config_sha256 = row[7].as<std::string>();
  j.evaluator_version = row[8].as<std::string>();
  j.state = ParseJobState(row[9].as<std::string>()).value();  // the CHECK allows no other
  j.priority = row[10].as<int>();
  j.attempt = row[11].as<int>();
  j.max_attempts = row[12].as<int>();
  j.leased_by = OptionalField<std::string>(row[13]);
  j.lease_expires_at = OptionalTime(row[14]);
  j.run_after = FromEpochMicros(row[15].as<int64_t>());
  j.started_at = OptionalTime(row[16]);
  j.finished_at = OptionalTime(row[17]);
  j.evaluation_id = OptionalField<int64_t>(row[18]);
  j.last_error = OptionalField<std::string>(row[19]);
  j.errors_json = row[20].as<std::string>();
  j.created_at = FromEpochMicros(row[21].as<int64_t>());
  j.dataset_version_id = row[22].as<int64_t>();
  j.manifest_sha256 = row[23].as<std::string>();
  j.arch_sha256 = OptionalField<std::string>(row[24]);
  j.eval_config.canonical = row[25].as<std::string>();
  j.eval_config.hash_version = row[26].as<int>();
  j.eval_config.sha256 = j.eval_config_sha256;
  return j;
}

// The filter's conditions over `tw.jobs j` (and the joined checkpoint/dataset tables).
void AddJobFilter(SqlBuilder& sql, const JobFilter& filter) {
  if (!filter.states.empty()) {
    std::string list;
    for (JobState s : filter.states) {
      list += (list.empty() ? "" : ", ") + sql.Param(JobStateName(s));
    }
    sql.Where("j.state IN (" + list + ")");
  }
  if (filter.job_id) sql.Where("j.id = " + sql.Param(std::to_string(*filter.job_id)) + "::bigint");
  if (filter.checkpoint_id) {
    sql.Where("j.checkpoint_id = " + sql.Param(std::to_string(*filter.checkpoint_id)) + "::bigint");
  }
  if (filter.other_evaluator_than) {
    sql.Where("j.evaluator_version <> " + sql.Param(*filter.other_evaluator_than));
  }
  if (filter.dataset) {
    sql.Where(
        "j.dataset_version_id IN (SELECT v.id FROM tw.dataset_versions v JOIN tw.datasets d "
        "ON d.id = v.dataset_id WHERE d.name = " +
        sql.Param(*filter.dataset) + ")");
  }
}

}  // namespace

std::string JobStateName(JobState state) {
  switch (state) {
    case JobState::kPending:
      return "pending";
    case JobState::kRunning:
      return "running";
    case JobState::kDone:
      return "done";
    case JobState::kDead:
      return "dead";
    case JobState::kCancelled:
      return "cancelled";
  }
  return "unknown";
}

StatusOr<JobState> ParseJobState(const std::string& name) {
  for (JobState s : {JobState::kPending, JobState::kRunning, JobState::kDone, JobState::kDead,
                     JobState::kCancelled}) {
    if (JobStateName(s) == name) return s;
  }
  return InvalidArgumentError("unknown job state '" + name +
                              "' (expected pending, running, done, dead or cancelled)");
}

StatusOr<std::vector<PlanCandidate>> PgStore::UnplannedCheckpoints(
    int64_t dataset_version_id, const std::string& eval_config_sha256, int limit) {
  return PgCall("finding checkpoints to plan", [&]() -> StatusOr<std::vector<PlanCandidate>> {
    pqxx::read_transaction tx(impl_->conn);
    // A state-dict checkpoint's job is keyed with its run's current architecture: a new arch.pt
    // makes it unplanned again.
    auto rows = tx.exec_params(
        "SELECT c.id, c.sha256, r.name || '/' || c.name, c.format, r.arch_sha256, "
        "  c.created_at > (SELECT created_at FROM tw.dataset_versions WHERE id = $1) "
        "FROM tw.checkpoints c JOIN tw.runs r ON r.id = c.run_id "
        "WHERE c.origin = 'file' "
        "  AND EXISTS (SELECT 1 FROM tw.checkpoint_files f WHERE f.checkpoint_id = c.id) "
        "  AND NOT EXISTS (SELECT 1 FROM tw.jobs j WHERE j.dataset_version_id = $1 "
        "    AND j.eval_config_sha256 = $2 AND j.checkpoint_id = c.id "
        "    AND j.arch_sha256 IS NOT DISTINCT FROM "
        "        (CASE WHEN coalesce(c.format, 'torchscript') = 'torchscript' THEN NULL "
        "              ELSE r.arch_sha256 END)) "
        "ORDER BY c.id LIMIT $3",
        dataset_version_id, eval_config_sha256, limit);
    std::vector<PlanCandidate> out;
    for (const auto& row : rows) {
      PlanCandidate c;
      c.checkpoint_id = row[0].as<int64_t>();
      c.checkpoint_sha256 = row[1].as<std::string>();
      c.display_name = row[2].as<std::string>();
      c.format = OptionalField<std::string>(row[3]);
      c.run_arch_sha256 = OptionalField<std::string>(row[4]);
      c.newer_than_dataset = !row[5].is_null() && row[5].as<bool>();
      out.push_back(std::move(c));
    }
    return out;
  });
}

StatusOr<EnqueueResult> PgStore::EnqueueJobs(const std::vector<NewJob>& jobs) {
  return PgCall("queueing jobs", [&]() -> StatusOr<EnqueueResult> {
    EnqueueResult result;
    if (jobs.empty()) return result;
    pqxx::work tx(impl_->conn);
    for (const NewJob& job : jobs) {
      auto rows = tx.exec_params(
          "INSERT INTO tw.jobs (evaluation_key, checkpoint_id, dataset_version_id, "
          "  eval_config_sha256, eval_config, eval_config_hash_version, arch_sha256, "
          "  evaluator_version, priority, max_attempts, state, evaluation_id, finished_at) "
          "SELECT $1, $2, $3, $4, $5, $6, $7, $8, $9, $10, "
          "  CASE WHEN e.id IS NULL THEN 'pending' ELSE 'done' END, e.id, "
          "  CASE WHEN e.id IS NULL THEN NULL ELSE now() END "
          "FROM (SELECT 1) one LEFT JOIN tw.evaluations e ON e.evaluation_key = $1 "
          "ON CONFLICT (evaluation_key) DO NOTHING RETURNING state",
          job.evaluation_key, job.checkpoint_id, job.dataset_version_id, job.eval_config.sha256,
          job.eval_config.canonical, job.eval_config.hash_version, NullableText(job.arch_sha256),
          job.evaluator_version, job.priority, job.max_attempts);
      if (rows.empty()) {
        ++result.already_queued;
      } else if (rows[0][0].as<std::string>() == "done") {
        ++result.already_recorded;
      } else {
        ++result.queued;
      }
    }
    // Delivered at commit to every listening worker: a hint, polling stays the truth.
    if (result.queued > 0) tx.exec("SELECT pg_notify('tw_jobs', 'queued')");
    tx.commit();
    return result;
  });
}

StatusOr<std::optional<Claim>> PgStore::ClaimNext(const ClaimRequest& request,
                                                  const std::string& host) {
  TW_RETURN_IF_ERROR(CheckLeaseToken(request.lease_token));
  // A claimer that locks a checkpoint just as another commits its claim of it finds no job left
  // (the statement's snapshot still showed them pending): it tries again while claimable jobs
  // exist, a few times, rather than idle until the next poll.
  for (int round = 0;; ++round) {
    TW_ASSIGN_OR_RETURN(std::optional<Claim> claim, ClaimOnce(request, host));
    if (claim.has_value() || round == 4) return claim;
    TW_ASSIGN_OR_RETURN(bool more, PgCall("claiming a job", [&]() -> StatusOr<bool> {
                          pqxx::read_transaction tx(impl_->conn);
                          return tx
                              .exec_params1(
                                  "SELECT EXISTS (SELECT 1 FROM tw.jobs WHERE state = 'pending' "
                                  "AND evaluator_version = $1 AND run_after <= now())",
                                  request.evaluator_version)[0]
                              .as<bool>();
                        }));
    if (!more) return claim;
  }
}

StatusOr<std::optional<Claim>> PgStore::ClaimOnce(const ClaimRequest& request,
                                                  const std::string& host) {
  return PgCall("claiming a job", [&]() -> StatusOr<std::optional<Claim>> {
    pqxx::work tx(impl_->conn);
    // MATERIALIZED: the planner may otherwise re-run a LIMIT subquery and claim more rows than
    // asked (Oban's note). `candidates` reads the head of the queue through the jobs_pending
    // index; `next_checkpoint` locks the first of their checkpoints that no other claimer holds
    // (SKIP LOCKED on the checkpoint row, so two claimers never split one checkpoint's jobs);
    // `batch` takes every claimable job of it. Locking job rows first instead would let a second
    // claimer lock another job of the same checkpoint and take part of it.
    auto claimed = tx.exec_params(
        "WITH candidates AS MATERIALIZED ("
        "  SELECT checkpoint_id, priority, id FROM tw.jobs j "
        "  WHERE state = 'pending' AND evaluator_version = $1 AND run_after <= now() "
        // Only checkpoints this host has seen: another host's file is not ours to fail on.
        "  AND EXISTS (SELECT 1 FROM tw.checkpoint_files f "
        "              WHERE f.checkpoint_id = j.checkpoint_id AND f.host = $5) "
        "  ORDER BY priority DESC, id LIMIT 256), "
        "next_checkpoint AS MATERIALIZED ("
        "  SELECT c.id AS checkpoint_id FROM tw.checkpoints c JOIN ("
        "    SELECT checkpoint_id, max(priority) AS priority, min(id) AS first_id "
        "    FROM candidates GROUP BY checkpoint_id) k ON k.checkpoint_id = c.id "
        "  ORDER BY k.priority DESC, k.first_id LIMIT 1 FOR NO KEY UPDATE OF c SKIP LOCKED), "
        "batch AS MATERIALIZED ("
        "  SELECT j.id FROM tw.jobs j JOIN next_checkpoint n ON n.checkpoint_id = j.checkpoint_id "
        "  WHERE j.state = 'pending' AND j.evaluator_version = $1 AND j.run_after <= now() "
        "  ORDER BY j.id FOR UPDATE OF j SKIP LOCKED) "
        "UPDATE tw.jobs j SET state = 'running', attempt = j.attempt + 1, lease_token = $2, "
        "  leased_by = $3, lease_expires_at = now() + " +
            IntervalMs("$4") +
            ", heartbeat_at = now(), started_at = now(), finished_at = NULL, updated_at = now() "
            "FROM batch WHERE j.id = batch.id RETURNING j.id",
        request.evaluator_version, request.lease_token, request.worker, Millis(request.lease),
        host);
    if (claimed.empty()) {
      tx.commit();
      return std::optional<Claim>();
    }
    auto rows = tx.exec_params(
        "SELECT j.id, j.evaluation_key, j.attempt, j.max_attempts, j.eval_config_sha256, "
        "  j.eval_config_hash_version, j.eval_config, j.arch_sha256, "
        "  d.id, d.name, ref.name, v.version, v.manifest_sha256, m.files_sha256, m.num_files, "
        "  m.total_bytes, v.root, v.default_config::text, d.protocol::text, "
        "  c.id, c.sha256, r.name || '/' || c.name, r.arch_path, v.id, r.name, c.step "
        "FROM tw.jobs j JOIN tw.dataset_versions v ON v.id = j.dataset_version_id "
        "  JOIN tw.datasets d ON d.id = v.dataset_id "
        "  LEFT JOIN tw.datasets ref ON ref.id = d.reference_id "
        "  JOIN tw.manifests m ON m.sha256 = v.manifest_sha256 "
        "  JOIN tw.checkpoints c ON c.id = j.checkpoint_id JOIN tw.runs r ON r.id = c.run_id "
        "WHERE j.lease_token = $1 AND j.state = 'running' ORDER BY j.id",
        request.lease_token);
    Claim claim;
    claim.lease_token = request.lease_token;
    for (const auto& row : rows) {
      ClaimedJob job;
      job.job_id = row[0].as<int64_t>();
      job.evaluation_key = row[1].as<std::string>();
      job.attempt = row[2].as<int>();
      job.max_attempts = row[3].as<int>();
      job.eval_config.sha256 = row[4].as<std::string>();
      job.eval_config.hash_version = row[5].as<int>();
      job.eval_config.canonical = row[6].as<std::string>();
      job.arch_sha256 = OptionalField<std::string>(row[7]);
      job.version.dataset_id = row[8].as<int64_t>();
      job.version.name = row[9].as<std::string>();
      job.version.reference = OptionalField<std::string>(row[10]);
      job.version.version = row[11].as<int>();
      job.version.manifest_sha256 = row[12].as<std::string>();
      job.version.files_sha256 = row[13].as<std::string>();
      job.version.num_files = row[14].as<int>();
      job.version.total_bytes = row[15].as<int64_t>();
      job.version.root = row[16].as<std::string>();
      job.version.default_config_json = row[17].as<std::string>();
      job.dataset_protocol = row[18].as<std::string>();
      claim.checkpoint_id = row[19].as<int64_t>();
      claim.checkpoint_sha256 = row[20].as<std::string>();
      claim.display_name = row[21].as<std::string>();
      claim.arch_path = OptionalField<std::string>(row[22]);
      job.version.version_id = row[23].as<int64_t>();
      claim.run = row[24].as<std::string>();
      claim.step = OptionalField<int64_t>(row[25]);
      claim.jobs.push_back(std::move(job));
    }
    auto paths = tx.exec_params(
        "SELECT path FROM tw.checkpoint_files WHERE checkpoint_id = $1 AND host = $2 "
        "ORDER BY last_seen_at DESC, id DESC",
        claim.checkpoint_id, host);
    for (const auto& row : paths) claim.paths.push_back(row[0].as<std::string>());
    tx.commit();
    return std::optional<Claim>(std::move(claim));
  });
}

StatusOr<std::vector<int64_t>> PgStore::Heartbeat(const std::string& lease_token,
                                                  std::chrono::milliseconds lease) {
  TW_RETURN_IF_ERROR(CheckLeaseToken(lease_token));
  return PgCall("renewing a lease", [&]() -> StatusOr<std::vector<int64_t>> {
    pqxx::work tx(impl_->conn);
    auto rows = tx.exec_params("UPDATE tw.jobs SET lease_expires_at = now() + " + IntervalMs("$2") +
                                   ", heartbeat_at = now(), updated_at = now() "
                                   "WHERE lease_token = $1 AND state = 'running' RETURNING id",
                               lease_token, Millis(lease));
    tx.commit();
    std::vector<int64_t> held;
    for (const auto& row : rows) held.push_back(row[0].as<int64_t>());
    return held;
  });
}

StatusOr<int64_t> PgStore::CompleteJob(int64_t job_id, const std::string& lease_token,
                                       const EvaluationRecord& record) {
  TW_RETURN_IF_ERROR(CheckLeaseToken(lease_token));
  return PgCall("completing job " + std::to_string(job_id), [&]() -> StatusOr<int64_t> {
    pqxx::work tx(impl_->conn);
    // The fence: the row is ours only while it is running under our token. Locking it first
    // also makes a concurrent rescue or cancel wait for this transaction, or win before it.
    auto held = tx.exec_params(
        "SELECT evaluation_key FROM tw.jobs WHERE id = $1 AND lease_token = $2 "
        "AND state = 'running' FOR UPDATE",
        job_id, lease_token);
    if (held.empty()) {
      // A retry after a commit whose answer was lost (or another worker that finished it):
      // the job is done with this very key, so the result is recorded; say so.
      auto done = tx.exec_params(
          "SELECT evaluation_id FROM tw.jobs WHERE id = $1 AND state = 'done' "
          "AND evaluation_key = $2 AND evaluation_id IS NOT NULL",
          job_id, record.evaluation_key);
      if (!done.empty()) return done[0][0].as<int64_t>();
      return FailedPreconditionError("job " + std::to_string(job_id) +
                                     " lost its lease (expired and rescued, or cancelled): "
                                     "its result is discarded");
    }
    if (held[0][0].as<std::string>() != record.evaluation_key) {
      return InternalError("job " + std::to_string(job_id) + " is for another evaluation key");
    }
    TW_ASSIGN_OR_RETURN(int64_t evaluation_id, pg::RecordEvaluationIn(tx, record));
    tx.exec_params(
        "UPDATE tw.jobs SET state = 'done', evaluation_id = $2, finished_at = now(), "
        "  lease_token = NULL, lease_expires_at = NULL, updated_at = now() WHERE id = $1",
        job_id, evaluation_id);
    // Its transfer checks are owed from now on, whatever happens to this worker (store.h).
    tx.exec_params(
        "UPDATE tw.checkpoints SET checks_due_at = clock_timestamp() "
        "WHERE id = (SELECT checkpoint_id FROM tw.jobs WHERE id = $1)",
        job_id);
    tx.commit();
    return evaluation_id;
  });
}

StatusOr<JobState> PgStore::FailJob(int64_t job_id, const std::string& lease_token,
                                    const JobFailure& failure) {
  TW_RETURN_IF_ERROR(CheckLeaseToken(lease_token));
  return PgCall("failing job " + std::to_string(job_id), [&]() -> StatusOr<JobState> {
    pqxx::work tx(impl_->conn);
    std::string error = CutError(failure.error);
    auto rows = tx.exec_params(
        "UPDATE tw.jobs SET "
        "  state = CASE WHEN $3 OR attempt >= max_attempts THEN 'dead' ELSE 'pending' END, "
        "  finished_at = CASE WHEN $3 OR attempt >= max_attempts THEN now() END, "
        "  run_after = now() + " +
            IntervalMs("$4") +
            ", lease_token = NULL, lease_expires_at = NULL, last_error = $5, updated_at = now(), "
            "  errors = errors || jsonb_build_array(jsonb_build_object('attempt', attempt, "
            "    'at', now(), 'worker', $6::text, 'error', $5::text)) "
            "WHERE id = $1 AND lease_token = $2 AND state = 'running' RETURNING state",
        job_id, lease_token, failure.permanent, Millis(failure.retry_after), error, failure.worker);
    if (rows.empty()) {
      return FailedPreconditionError("job " + std::to_string(job_id) +
                                     " lost its lease (expired and rescued, or cancelled)");
    }
    if (rows[0][0].as<std::string>() == "dead") {
      tx.exec_params(kEvalFailedEvent, job_id);
      tx.exec("SELECT pg_notify('tw_outbox', 'queued')");
    }
    tx.commit();
    return ParseJobState(rows[0][0].as<std::string>());
  });
}

StatusOr<int> PgStore::ReleaseClaim(const std::string& lease_token) {
  TW_RETURN_IF_ERROR(CheckLeaseToken(lease_token));
  return PgCall("releasing a claim", [&]() -> StatusOr<int> {
    pqxx::work tx(impl_->conn);
    auto rows = tx.exec_params(
        "UPDATE tw.jobs SET state = 'pending', attempt = greatest(attempt - 1, 0), "
        "  lease_token = NULL, lease_expires_at = NULL, run_after = now(), updated_at = now() "
        "WHERE lease_token = $1 AND state = 'running' RETURNING id",
        lease_token);
    if (!rows.empty()) tx.exec("SELECT pg_notify('tw_jobs', 'released')");
    tx.commit();
    return static_cast<int>(rows.size());
  });
}

StatusOr<bool> PgStore::ReleaseJob(int64_t job_id, const std::string& lease_token) {
  TW_RETURN_IF_ERROR(CheckLeaseToken(lease_token));
  return PgCall("releasing job " + std::to_string(job_id), [&]() -> StatusOr<bool> {
    pqxx::work tx(impl_->conn);
    auto rows = tx.exec_params(
        "UPDATE tw.jobs SET state = 'pending', attempt = greatest(attempt - 1, 0), "
        "  lease_token = NULL, lease_expires_at = NULL, run_after = now(), updated_at = now() "
        "WHERE id = $1 AND lease_token = $2 AND state = 'running' RETURNING id",
        job_id, lease_token);
    if (!rows.empty()) tx.exec("SELECT pg_notify('tw_jobs', 'released')");
    tx.commit();
    return !rows.empty();
  });
}

StatusOr<int> PgStore::RescueExpiredLeases() {
  return PgCall("rescuing expired leases", [&]() -> StatusOr<int> {
    pqxx::work tx(impl_->conn);
    // SKIP LOCKED: a job whose worker is completing it right now is left to that worker.
    auto rows = tx.exec(
        "UPDATE tw.jobs j SET "
        "  state = CASE WHEN j.attempt >= j.max_attempts THEN 'dead' ELSE 'pending' END, "
        "  finished_at = CASE WHEN j.attempt >= j.max_attempts THEN now() END, "
        "  last_error = 'lease expired: worker ' || coalesce(j.leased_by, '?') || "
        "    ' stopped renewing it (killed, hung or cut off from the database)', "
        "  errors = j.errors || jsonb_build_array(jsonb_build_object('attempt', j.attempt, "
        "    'at', now(), 'worker', j.leased_by, 'error', 'lease expired')), "
        "  lease_token = NULL, lease_expires_at = NULL, run_after = now(), updated_at = now() "
        "FROM (SELECT id FROM tw.jobs WHERE state = 'running' AND lease_expires_at < now() "
        "      FOR UPDATE SKIP LOCKED) expired "
        "WHERE j.id = expired.id RETURNING j.state, j.id");
    bool requeued = false;
    for (const auto& row : rows) {
      requeued |= row[0].as<std::string>() == "pending";
      if (row[0].as<std::string>() == "dead") {
        tx.exec_params(kEvalFailedEvent, row[1].as<int64_t>());
        tx.exec("SELECT pg_notify('tw_outbox', 'queued')");
      }
    }
    if (requeued) tx.exec("SELECT pg_notify('tw_jobs', 'rescued')");
    tx.commit();
    return static_cast<int>(rows.size());
  });
}

StatusOr<std::vector<JobInfo>> PgStore::ListJobs(const JobFilter& filter) {
  return PgCall("listing jobs", [&]() -> StatusOr<std::vector<JobInfo>> {
    pqxx::read_transaction tx(impl_->conn);
    SqlBuilder sql;
    AddJobFilter(sql, filter);
    std::string limit = sql.Param(std::to_string(filter.limit));
    auto rows = sql.Exec(tx, std::string(kJobSelect) + sql.WhereClause() +
                                 " ORDER BY j.id DESC LIMIT " + limit + "::bigint");
    std::vector<JobInfo> out;
    for (const auto& row : rows) out.push_back(JobFromRow(row));
    return out;
  });
}

StatusOr<JobCounts> PgStore::CountJobs() {
  return PgCall("counting jobs", [&]() -> StatusOr<JobCounts> {
    pqxx::read_transaction tx(impl_->conn);
    JobCounts counts;
    for (const auto& row : tx.exec("SELECT state, count(*) FROM tw.jobs GROUP BY state")) {
      auto state = ParseJobState(row[0].as<std::string>());
      int64_t n = row[1].as<int64_t>();
      if (!state.ok()) continue;
      switch (*state) {
        case JobState::kPending:
          counts.pending = n;
          break;
        case JobState::kRunning:
          counts.running = n;
          break;
        case JobState::kDone:
          counts.done = n;
          break;
        case JobState::kDead:
          counts.dead = n;
          break;
        case JobState::kCancelled:
          counts.cancelled = n;
          break;
      }
    }
    return counts;
  });
}

StatusOr<int> PgStore::RetryJobs(const JobFilter& filter) {
  return PgCall("retrying jobs", [&]() -> StatusOr<int> {
    pqxx::work tx(impl_->conn);
    SqlBuilder sql;
    AddJobFilter(sql, filter);
    sql.Where("j.state IN ('dead', 'cancelled')");
    auto rows = sql.Exec(tx,
                         "UPDATE tw.jobs j SET state = 'pending', attempt = 0, run_after = now(), "
                         "  finished_at = NULL, updated_at = now()" +
                             sql.WhereClause() + " RETURNING j.id");
    if (!rows.empty()) tx.exec("SELECT pg_notify('tw_jobs', 'retried')");
    tx.commit();
    return static_cast<int>(rows.size());
  });
}

StatusOr<int> PgStore::CancelJobs(const JobFilter& filter) {
  return PgCall("cancelling jobs", [&]() -> StatusOr<int> {
    pqxx::work tx(impl_->conn);
    SqlBuilder sql;
    AddJobFilter(sql, filter);
    sql.Where("j.state IN ('pending', 'running')");
    auto rows = sql.Exec(tx,
                         "UPDATE tw.jobs j SET state = 'cancelled', lease_token = NULL, "
                         "  lease_expires_at = NULL, finished_at = now(), updated_at = now()" +
                             sql.WhereClause() + " RETURNING j.id");
    tx.commit();
    return static_cast<int>(rows.size());
  });
}

}  // namespace tw
