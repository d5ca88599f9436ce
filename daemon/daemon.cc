#include "daemon/daemon.h"

#include <sys/random.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <boost/asio.hpp>
#include <climits>
#include <condition_variable>
#include <deque>
#include <map>
#include <mutex>
#include <nlohmann/json.hpp>
#include <random>
#include <set>
#include <sstream>
#include <thread>

#include "api/http_server.h"
#include "cli/commands.h"
#include "cli/flag_commands.h"
#include "cli/job_commands.h"
#include "common/logging.h"
#include "common/numbers.h"
#include "common/sha256.h"
#include "common/time_util.h"
#include "common/version.h"
#include "daemon/webhook_sender.h"
#include "dashboard/routes.h"
#include "notify/destination.h"
#include "notify/payload.h"
#include "notify/render.h"
#include "notify/retry.h"
#include "notify/signing.h"
#include "reports/transfer_checks.h"
#include "runner/evaluator_run.h"
#include "runner/plan.h"
#include "watch/intake.h"
#include "watch/names.h"

namespace tw::daemon {
namespace {

using Json = nlohmann::json;
using std::chrono::milliseconds;

constexpr int kNewCheckpointPriority = 100;  // ahead of back-fills (priority 0)
constexpr int kPlanBatch = 500;

// 128 bits from the kernel: a lease token must not repeat across threads, hosts or restarts
// (a generator seeded with 32 bits would).
std::string FreshToken() {
  unsigned char bytes[16];
  size_t got = 0;
  while (got < sizeof(bytes)) {
    ssize_t n = ::getrandom(bytes + got, sizeof(bytes) - got, 0);
    if (n > 0) got += static_cast<size_t>(n);
  }
  static const char* hex = "0123456789abcdef";
  std::string token;
  for (unsigned char b : bytes) {
    token += hex[b >> 4];
    token += hex[b & 15];
  }
  return token;
}

// 100 ms, 200 ms, ... up to 30 s: reconnecting after the database went away.
milliseconds ReconnectDelay(int failures) {
  return std::min<milliseconds>(milliseconds(100 << std::min(failures, 9)), milliseconds(30000));
}

std::string JsonText(const Json& j) {
  return j.dump(-1, ' ', false, Json::error_handler_t::replace);
}

}  // namespace

struct Daemon::State {
  explicit State(DaemonDeps d) : deps(std::move(d)), config(deps.config) {}

  DaemonDeps deps;
  std::mutex config_mu;
  DaemonConfig config;  // reloaded on SIGHUP; read under config_mu
  DaemonConfig Config() {
    std::lock_guard<std::mutex> lock(config_mu);
    return config;
  }

  MetricsRegistry metrics;
  Counter* files_seen = nullptr;
  Counter* files_refused = nullptr;
  Counter* checkpoints_registered = nullptr;
  Counter* jobs_queued = nullptr;
  Counter* evaluations_done = nullptr;
  Counter* flags_raised = nullptr;
  CounterFamily* deliveries = nullptr;
  CounterFamily* errors = nullptr;
  GaugeFamily* jobs_by_state = nullptr;
  Gauge* images_per_second = nullptr;
  Gauge* workers_busy = nullptr;
  HistogramFamily* eval_seconds = nullptr;

  boost::asio::io_context io;
  std::atomic<bool> stopping{false};
  std::atomic<int64_t> drain_deadline_ns{INT64_MAX};  // steady clock, once stopping
  std::mutex stop_mu;
  std::condition_variable stop_cv;  // interrupts backoff sleeps

  // Registrar input.
  std::mutex reg_mu;
  std::condition_variable reg_cv;
  std::deque<watch::ReadyFile> ready;
  bool plan_requested = true;

  // Idle workers wait here; notified on NOTIFY, on enqueue, on stop.
  std::mutex work_mu;
  std::condition_variable work_cv;
  uint64_t work_generation = 0;

  size_t foreign_pending_seen = 0;  // registrar thread only
  std::atomic<bool> watcher_up{false};
  std::atomic<bool> database_up{false};
  std::atomic<int> api_port{0};

  // API handlers run on the HTTP server's threads, each with a connection of its own: a pool
  // of at most kApiConnections (one per server thread), opened on demand; one that answered
  // 503 (the database went away) is dropped. One shared connection serialised every request.
  static constexpr int kApiConnections = api::kDefaultServerThreads;
  std::mutex api_store_mu;
  std::condition_variable api_store_cv;
  std::vector<std::unique_ptr<QueueStore>> idle_api_stores;
  int api_stores_open = 0;

  // The sender waits here between polls; notified on NOTIFY and on stop.
  std::mutex send_mu;
  std::condition_variable send_cv;
  uint64_t send_generation = 0;
  void WakeSender() {
    {
      std::lock_guard<std::mutex> lock(send_mu);
      ++send_generation;
    }
    send_cv.notify_all();
  }

  void WakeWorkers() {
    {
      std::lock_guard<std::mutex> lock(work_mu);
      ++work_generation;
    }
    work_cv.notify_all();
  }

  // Sleeps up to `d`, returning early (false) when the daemon is stopping.
  bool SleepUnlessStopping(milliseconds d) {
    std::unique_lock<std::mutex> lock(stop_mu);
    return !stop_cv.wait_for(lock, d, [&] { return stopping.load(); });
  }

  bool DrainExpired() {
    if (!stopping) return false;
    return std::chrono::steady_clock::now().time_since_epoch().count() >= drain_deadline_ns.load();
  }

  void BeginStop() {
    bool was = stopping.exchange(true);
    if (was) return;
    auto drain = Config().drain_timeout;
    drain_deadline_ns = (std::chrono::steady_clock::now() + drain).time_since_epoch().count();
    if (deps.notify) deps.notify("STOPPING=1");
    Log()->info("stopping: no new claims; running evaluations get {} ms to finish", drain.count());
    // Taking each mutex once orders the flag before any waiter's next check: no waiter can
    // have tested `stopping` and not yet be waiting when the notify comes.
    { std::lock_guard<std::mutex> lock(stop_mu); }
    { std::lock_guard<std::mutex> lock(reg_mu); }
    stop_cv.notify_all();
    reg_cv.notify_all();
    WakeWorkers();
    WakeSender();
  }

  StatusOr<std::unique_ptr<QueueStore>> ConnectWithBackoff(const char* who) {
    for (int failures = 0;; ++failures) {
      auto store = deps.connect();
      if (store.ok()) {
        if (failures > 0) Log()->info("{}: connected to the database again", who);
        database_up = true;
        return store;
      }
      database_up = false;
      if (failures == 0 || failures % 10 == 0) {
        Log()->warn("{}: {} (retrying)", who, store.status().ToString());
      }
      if (!SleepUnlessStopping(ReconnectDelay(failures))) return CancelledError("stopping");
    }
  }

  std::shared_ptr<spdlog::logger> Log() { return Logger("daemon"); }

  void RegisterMetrics() {
    files_seen = &metrics
                      .AddCounter("transferwatch_checkpoint_files_seen_total",
                                  "Settled checkpoint files handed to the registrar.")
                      .WithLabelValues();
    files_refused = &metrics
                         .AddCounter("transferwatch_checkpoint_files_refused_total",
                                     "Files in watched folders refused (not a checkpoint...).")
                         .WithLabelValues();
    checkpoints_registered = &metrics
                                  .AddCounter("transferwatch_checkpoints_registered_total",
                                              "Checkpoint files hashed and registered.")
                                  .WithLabelValues();
    jobs_queued =
        &metrics.AddCounter("transferwatch_jobs_queued_total", "Jobs queued by this daemon.")
             .WithLabelValues();
    evaluations_done =
        &metrics
             .AddCounter("transferwatch_evaluations_total", "Evaluations recorded by this daemon.")
             .WithLabelValues();
    flags_raised = &metrics
                        .AddCounter("transferwatch_flags_total",
                                    "Regression flags and no-transfer notes recorded.")
                        .WithLabelValues();
    deliveries = &metrics.AddCounter(
        "transferwatch_webhook_deliveries_total",
        "Webhook message attempts by the state they left (a message carries one or more events).",
        {"state"});
    errors = &metrics.AddCounter("transferwatch_errors_total", "Errors by kind.", {"kind"});
    jobs_by_state = &metrics.AddGauge("transferwatch_jobs",
                                      "Jobs in the queue by state (all daemons).", {"state"});
    images_per_second = &metrics
                             .AddGauge("transferwatch_eval_images_per_second",
                                       "Throughput of the latest evaluation progress report.")
                             .WithLabelValues();
    workers_busy = &metrics.AddGauge("transferwatch_workers_busy", "Worker slots evaluating now.")
                        .WithLabelValues();
    eval_seconds = &metrics.AddHistogram(
        "transferwatch_evaluation_duration_seconds", "Wall time of evaluator runs (one claim).",
        {0.5, 1, 2, 5, 10, 30, 60, 120, 300, 600, 1800, 3600, 7200, 21600});
  }

  // ---- registrar --------------------------------------------------------------------------
  enum class Registered { kDone, kDatabaseDown, kRetryLater };
  // kDatabaseDown: the file is kept for the next round; kRetryLater: it could not be read
  // (permissions, NFS): tried again after a pause, a few times.
  Registered RegisterFile(QueueStore& store, const watch::ReadyFile& file);
  struct LaterFile {
    watch::ReadyFile file;
    int attempts = 0;
    std::chrono::steady_clock::time_point due;
  };
  std::vector<LaterFile> later;              // registrar thread only
  std::map<std::string, int> read_failures;  // by path; registrar thread only
  Status Plan(QueueStore& store);
  void RegistrarLoop();

  // ---- workers ----------------------------------------------------------------------------
  void WorkerLoop(int slot);
  void Evaluate(QueueStore& store, const Claim& claim, const std::string& worker);

  void ListenerLoop();
  // Delivers outbox events to webhooks (any daemon may; a lease makes one send each attempt).
  void SenderLoop();
  // Compares a freshly evaluated checkpoint with its references and records flags + events.
  // Runs a checkpoint's transfer checks and re-checks the later checkpoints of its run that
  // compare with it; then clears its owed-checks mark (store.h). False when something failed:
  // the mark stays, and a planner's sweep (SweepChecksDue) runs them again.
  bool CheckTransfer(QueueStore& store, const CheckedCheckpoint& checkpoint,
                     const std::string& run);
  // Runs the checks still owed a lease after their result was recorded: the daemon that
  // recorded it was killed, or the database went away, before they ran.
  void SweepChecksDue(QueueStore& store);

  // ---- API --------------------------------------------------------------------------------
  std::vector<api::Route> Routes();
  api::HttpResponse WithApiStore(const std::function<api::HttpResponse(QueueStore&)>& fn);
};

// ---- registrar ----------------------------------------------------------------------------

Daemon::State::Registered Daemon::State::RegisterFile(QueueStore& store,
                                                      const watch::ReadyFile& file) {
  std::string shown = watch::EscapeName(file.path);
  auto known = store.FindCheckpointFile(deps.host, file.path, static_cast<int64_t>(file.size),
                                        file.mtime_ns);
  if (known.ok() && known->has_value() && !file.is_arch) {
    return Registered::kDone;  // seen before a restart
  }
  auto sha = Sha256FileHex(file.path);
  if (!sha.ok()) {
    Log()->warn("\"{}\": cannot hash: {}", shown, sha.status().message());
    errors->WithLabelValues({"hash"}).Inc();
    return Registered::kRetryLater;
  }
  // Changed or removed while it was hashed: the hash belongs to no stable file. The intake
  // reports it again if it was rewritten.
  struct stat st {};
  if (::stat(file.path.c_str(), &st) != 0 || static_cast<uint64_t>(st.st_size) != file.size ||
      int64_t{st.st_mtim.tv_sec} * 1000000000 + st.st_mtim.tv_nsec != file.mtime_ns) {
    Log()->info("\"{}\" changed or vanished while it was hashed; not registered", shown);
    return Registered::kDone;
  }
  if (file.is_arch) {
    Status status = store.SetRunArch(file.run, file.path, *sha);
    if (status.code() == StatusCode::kUnavailable || status.code() == StatusCode::kUnknown) {
      return Registered::kDatabaseDown;
    }
    if (!status.ok()) {
      Log()->warn("run \"{}\": cannot set its architecture: {}", watch::EscapeName(file.run),
                  status.ToString());
    } else {
      Log()->info("run \"{}\": architecture {} ({})", watch::EscapeName(file.run), shown,
                  sha->substr(0, 12));
    }
    return Registered::kDone;
  }
  CheckpointFileRegistration reg;
  reg.run = file.run;
  reg.file_name = file.file_name;
  reg.sha256 = *sha;
  reg.size_bytes = static_cast<int64_t>(file.size);
  reg.path = file.path;
  reg.host = deps.host;
  reg.mtime_ns = file.mtime_ns;
  reg.format = watch::CheckpointFormatName(file.check.kind);
  reg.step = watch::StepFromFileName(file.file_name);
  if (file.sidecar) {
    if (file.sidecar->step) reg.step = *file.sidecar->step;
    Json meta = {{"sidecar", Json::parse(file.sidecar->canonical_json, nullptr, false)},
                 {"sidecar_sha256", file.sidecar->sha256}};
    reg.metadata_json = JsonText(meta);
  }
  auto info = store.RegisterCheckpointFile(reg);
  if (!info.ok()) {
    Log()->warn("\"{}\": cannot register: {}", shown, info.status().ToString());
    errors->WithLabelValues({"register"}).Inc();
    StatusCode code = info.status().code();
    bool down = code == StatusCode::kUnavailable || code == StatusCode::kUnknown;
    return down ? Registered::kDatabaseDown : Registered::kDone;
  }
  checkpoints_registered->Inc();
  Log()->info("checkpoint {} ({}) from \"{}\"", info->display_name, sha->substr(0, 12), shown);
  return Registered::kDone;
}

Status Daemon::State::Plan(QueueStore& store) {
  DaemonConfig c = Config();
  std::vector<std::string> names = c.datasets;
  if (names.empty()) {
    TW_ASSIGN_OR_RETURN(auto datasets, store.ListDatasets());
    for (const auto& d : datasets) names.push_back(d.name);
  }
  int queued_total = 0;
  // Jobs pending for another evaluator version are left to that version's workers (a rolling
  // upgrade); once none is left, `transferwatch jobs reevaluate --pending` re-keys them. Said
  // when their number changes, not every round.
  JobFilter foreign;
  foreign.states = {JobState::kPending};
  foreign.other_evaluator_than = kEvaluatorVersion;
  foreign.limit = 10000;
  TW_ASSIGN_OR_RETURN(auto foreign_jobs, store.ListJobs(foreign));
  if (foreign_jobs.size() != foreign_pending_seen) {
    foreign_pending_seen = foreign_jobs.size();
    if (!foreign_jobs.empty()) {
      Log()->warn(
          "{} pending job(s) were planned for evaluator {}, not this daemon's {}: they wait for "
          "workers of that version, or `transferwatch jobs reevaluate --pending`",
          foreign_jobs.size(), foreign_jobs.front().evaluator_version, kEvaluatorVersion);
    }
  }
  std::vector<runner::PlannedDataset> plans;
  for (const auto& name : names) {
    auto planned = runner::PlanDataset(store, name, runner::OverridesFromJson(c.eval_config_json));
    if (!planned.ok()) {
      // Datasets known only from imported results have no files: nothing to evaluate on.
      if (planned.status().code() != StatusCode::kNotFound || !c.datasets.empty()) {
        Log()->warn("not planning dataset {}: {}", name, planned.status().message());
      }
      continue;
    }
    plans.push_back(std::move(*planned));
  }
  // Every dataset's jobs for a round go in one transaction, so a worker woken by its NOTIFY
  // claims a checkpoint with all its datasets: one evaluator pass, not one per dataset.
  for (bool more = true; more;) {
    more = false;
    std::vector<NewJob> jobs;
    for (const auto& planned : plans) {
      TW_ASSIGN_OR_RETURN(auto candidates,
                          store.UnplannedCheckpoints(planned.version.version_id,
                                                     planned.config_hash.sha256, kPlanBatch));
      more |= static_cast<int>(candidates.size()) == kPlanBatch;
      for (const auto& candidate : candidates) {
        NewJob job;
        bool needs_arch = candidate.format && *candidate.format != "torchscript";
        if (needs_arch) job.arch_sha256 = candidate.run_arch_sha256;
        TW_ASSIGN_OR_RETURN(job.evaluation_key,
                            runner::EvaluationKeyFor(planned, candidate.checkpoint_sha256,
                                                     job.arch_sha256, kEvaluatorVersion));
        job.checkpoint_id = candidate.checkpoint_id;
        job.dataset_version_id = planned.version.version_id;
        job.eval_config = planned.StoredConfig();
        job.evaluator_version = kEvaluatorVersion;
        job.priority = candidate.newer_than_dataset ? kNewCheckpointPriority : 0;
        job.max_attempts = c.max_attempts;
        jobs.push_back(std::move(job));
      }
    }
    if (jobs.empty()) break;
    TW_ASSIGN_OR_RETURN(EnqueueResult result, store.EnqueueJobs(jobs));
    queued_total += result.queued;
    jobs_queued->Inc(result.queued);
  }
  if (queued_total > 0) {
    Log()->info("queued {} job(s)", queued_total);
    WakeWorkers();
  }
  return OkStatus();
}

void Daemon::State::RegistrarLoop() {
  std::unique_ptr<QueueStore> store;
  auto last_plan = std::chrono::steady_clock::now() - std::chrono::hours(1);
  while (!stopping) {
    std::deque<watch::ReadyFile> batch;
    bool plan_now = false;
    {
      std::unique_lock<std::mutex> lock(reg_mu);
      reg_cv.wait_for(lock, Config().plan_interval,
                      [&] { return stopping || !ready.empty() || plan_requested; });
      if (stopping) break;
      batch.swap(ready);
      plan_now = plan_requested;
      plan_requested = false;
    }
    if (!store) {
      auto connected = ConnectWithBackoff("registrar");
      if (!connected.ok()) break;
      store = std::move(*connected);
    }
    // Files that could not be read earlier, when due.
    auto now_steady = std::chrono::steady_clock::now();
    for (auto it = later.begin(); it != later.end();) {
      if (it->due > now_steady) {
        ++it;
        continue;
      }
      batch.push_back(it->file);
      it = later.erase(it);
    }
    std::deque<watch::ReadyFile> retry;
    for (auto& file : batch) {
      Registered outcome = RegisterFile(*store, file);
      if (outcome == Registered::kDatabaseDown) {
        retry.push_back(std::move(file));
      } else if (outcome == Registered::kRetryLater) {
        int attempts = ++read_failures[file.path];
        if (attempts <= 10) {
          later.push_back({file, attempts, now_steady + std::chrono::seconds(5) * attempts});
        } else {
          Log()->warn("\"{}\": gave up after 10 attempts to read it", watch::EscapeName(file.path));
          read_failures.erase(file.path);
        }
      } else {
        read_failures.erase(file.path);
      }
    }
    if (!retry.empty()) {
      // The database failed under us: keep the files, reconnect, try again after a pause.
      store.reset();
      database_up = false;
      {
        std::lock_guard<std::mutex> lock(reg_mu);
        for (auto& file : retry) ready.push_front(std::move(file));
      }
      if (!SleepUnlessStopping(milliseconds(500))) break;
      continue;
    }
    auto now = std::chrono::steady_clock::now();
    if (!batch.empty() || plan_now || now - last_plan >= Config().plan_interval) {
      last_plan = now;
      Status planned = Plan(*store);
      auto rescued = store->RescueExpiredLeases();
      if (rescued.ok() && *rescued > 0) {
        Log()->warn("rescued {} job(s) whose worker stopped renewing its lease", *rescued);
        WakeWorkers();
      }
      if (planned.ok() && rescued.ok()) SweepChecksDue(*store);
      if (!planned.ok() || !rescued.ok()) {
        Status failed = planned.ok() ? rescued.status() : planned;
        Log()->warn("planning: {}", failed.ToString());
        errors->WithLabelValues({"database"}).Inc();
        if (failed.code() == StatusCode::kUnavailable || failed.code() == StatusCode::kUnknown) {
          store.reset();  // reconnect on the next round
          database_up = false;
          std::lock_guard<std::mutex> lock(reg_mu);
          plan_requested = true;
        }
      }
    }
  }
}

// ---- workers ------------------------------------------------------------------------------

void Daemon::State::Evaluate(QueueStore& store, const Claim& claim, const std::string& worker) {
  DaemonConfig c = Config();
  auto& log = *Log();
  auto fail = [&](const ClaimedJob& job, const std::string& error, bool permanent) {
    JobFailure failure;
    failure.error = error;
    failure.worker = worker;
    failure.permanent = permanent;
    failure.retry_after = c.retry_backoff * (1 << std::min(job.attempt - 1, 10));
    auto state = store.FailJob(job.job_id, claim.lease_token, failure);
    if (!state.ok()) {
      // Not recorded (the database is away, or the lease was lost): say what it was.
      log.warn("job {} ({} on {}) attempt {} failed: {}; recording that failed too: {}", job.job_id,
               claim.display_name, job.version.name, job.attempt, error, state.status().ToString());
    } else {
      log.warn("job {} ({} on {}) attempt {}/{} failed{}: {}", job.job_id, claim.display_name,
               job.version.name, job.attempt, job.max_attempts,
               *state == JobState::kDead ? ", now dead" : "", error);
    }
    errors->WithLabelValues({"evaluation"}).Inc();
  };

  // A path on this host that still exists (the evaluator checks the bytes against the hash).
  std::optional<std::string> path;
  for (const auto& p : claim.paths) {
    if (::access(p.c_str(), R_OK) == 0) {
      path = p;
      break;
    }
  }
  if (!path) {
    for (const auto& job : claim.jobs) {
      fail(job,
           "no readable copy of checkpoint " + claim.display_name + " on host " + deps.host +
               (claim.paths.empty() ? " (never seen here)" : " (moved or deleted)"),
           false);
    }
    return;
  }

  runner::EvaluatorRun run;
  run.evaluator = deps.evaluator;
  run.work_dir = deps.work_dir;
  run.checkpoint_id = claim.checkpoint_id;
  run.checkpoint_path = *path;
  run.checkpoint_sha256 = claim.checkpoint_sha256;
  run.threads = c.threads;
  run.decode_threads = c.decode_threads;
  run.timeout = c.eval_timeout;
  if (c.memory_limit_mb > 0) {
    run.extra_limits.push_back({RLIMIT_DATA, static_cast<uint64_t>(c.memory_limit_mb) << 20});
  }
  std::map<std::string, const ClaimedJob*> job_of;
  std::vector<const ClaimedJob*> jobs;
  for (const auto& job : claim.jobs) {
    if (job_of.count(job.version.name)) {
      // Two jobs of one dataset in one claim (a new version, or a changed config): one per
      // evaluator run; the other goes back untouched for the next claim.
      auto released = store.ReleaseJob(job.job_id, claim.lease_token);
      if (!released.ok()) {
        log.warn("job {}: cannot give it back: {}", job.job_id, released.status().ToString());
      }
      continue;
    }
    runner::EvaluatorTarget target;
    runner::PlannedDataset& p = target.planned;
    p.dataset = job.version.name;
    p.suite = job.dataset_protocol.find("corruption-suite") != std::string::npos;
    p.reference = job.version.reference;
    p.version = job.version;
    Status status = ApplyEvalConfigJson(job.eval_config.canonical, &p.config);
    p.config_hash =
        HashedJson{job.eval_config.canonical, job.eval_config.sha256, job.eval_config.hash_version};
    if (job.arch_sha256) {
      if (!claim.arch_path) {
        status = InvalidArgumentError("checkpoint " + claim.display_name +
                                      " is a state dict and its run has no arch.pt");
      }
      run.arch_path = claim.arch_path;
      run.arch_sha256 = job.arch_sha256;
    }
    if (status.ok()) {
      auto key =
          runner::EvaluationKeyFor(p, claim.checkpoint_sha256, job.arch_sha256, kEvaluatorVersion);
      if (!key.ok() || *key != job.evaluation_key) {
        status = InvalidArgumentError("the job's evaluation key does not match its inputs");
      }
      target.evaluation_key = job.evaluation_key;
    }
    if (status.ok()) {
      auto manifest = store.GetManifest(job.version.manifest_sha256);
      status = manifest.status();
      if (status.ok()) target.manifest = std::move(*manifest);
    }
    if (!status.ok()) {
      fail(job, status.message(), status.code() == StatusCode::kInvalidArgument);
      continue;
    }
    job_of[job.version.name] = &job;
    jobs.push_back(&job);
    run.targets.push_back(std::move(target));
  }
  if (run.targets.empty()) return;

  enum class StopReason { kNone, kShutdown, kLeaseLost };
  StopReason stop_reason = StopReason::kNone;
  std::set<int64_t> completed;
  auto last_beat = std::chrono::steady_clock::now();
  run.keep_going = [&] {
    if (DrainExpired()) {
      stop_reason = StopReason::kShutdown;
      return false;
    }
    auto now = std::chrono::steady_clock::now();
    if (now - last_beat < c.heartbeat) return true;
    last_beat = now;
    auto held = store.Heartbeat(claim.lease_token, c.lease);
    if (!held.ok()) {
      // The database is away: keep evaluating; completion retries, and the fence decides.
      log.warn("heartbeat for {}: {}", claim.display_name, held.status().ToString());
      return true;
    }
    // Stop only when no unfinished job is held any more (all rescued elsewhere or cancelled):
    // one cancelled dataset must not abandon the others of the claim.
    bool any_held = false, any_unfinished = false;
    for (const ClaimedJob* job : jobs) {
      if (completed.count(job->job_id)) continue;
      any_unfinished = true;
      any_held |= std::find(held->begin(), held->end(), job->job_id) != held->end();
    }
    if (any_unfinished && !any_held) {
      stop_reason = StopReason::kLeaseLost;
      return false;
    }
    return true;
  };
  run.on_progress = [&](const protocol::Progress& p) { images_per_second->Set(p.images_per_s); };
  run.on_record = [&](const runner::EvaluatorTarget& target, EvaluationRecord record) -> Status {
    const ClaimedJob& job = *job_of.at(target.planned.dataset);
    // The database may be restarting: retry (connection errors only) while the lease surely
    // holds, counted from the last heartbeat, rather than lose the result.
    Status status;
    auto give_up = last_beat + c.lease - c.heartbeat;
    for (int failures = 0;; ++failures) {
      auto id = store.CompleteJob(job.job_id, claim.lease_token, record);
      status = id.status();
      if (status.ok()) {
        completed.insert(job.job_id);
        evaluations_done->Inc();
        log.info("{} on {}: top-1 {:.3f} ({} images), job {} done", claim.display_name,
                 target.planned.dataset, record.top1, record.num_samples, job.job_id);
        return status;
      }
      bool transient =
          status.code() == StatusCode::kUnavailable || status.code() == StatusCode::kUnknown;
      if (!transient) return status;  // fenced off, or a record the store refuses
      auto pause = ReconnectDelay(failures);
      if (std::chrono::steady_clock::now() + pause > give_up) return status;
      std::this_thread::sleep_for(pause);
    }
  };
  auto started = std::chrono::steady_clock::now();
  log.info("evaluating {} on {} dataset(s) ({})", claim.display_name, run.targets.size(), worker);
  auto outcome = runner::RunEvaluator(run);
  eval_seconds->WithLabelValues().Observe(
      std::chrono::duration<double>(std::chrono::steady_clock::now() - started).count());
  if (!outcome.ok()) {
    if (outcome.status().code() == StatusCode::kCancelled) {
      if (stop_reason == StopReason::kShutdown) {
        auto released = store.ReleaseClaim(claim.lease_token);
        log.info("stopped evaluating {} for shutdown; {} job(s) released", claim.display_name,
                 released.ok() ? *released : 0);
      } else {
        // Anything of the claim still held goes back untouched (the attempt not counted).
        auto released = store.ReleaseClaim(claim.lease_token);
        log.warn(
            "stopped evaluating {}: its jobs were rescued elsewhere or cancelled ({} "
            "released)",
            claim.display_name, released.ok() ? *released : 0);
      }
      return;
    }
    for (const ClaimedJob* job : jobs) {
      if (!completed.count(job->job_id)) fail(*job, outcome.status().message(), false);
    }
    return;
  }
  if (!completed.empty()) {
    CheckTransfer(store,
                  CheckedCheckpoint{claim.checkpoint_id, claim.display_name,
                                    claim.checkpoint_sha256, claim.step},
                  claim.run);
  }
  std::string general;
  for (const auto& e : outcome->errors) general += (general.empty() ? "" : "; ") + e;
  for (const ClaimedJob* job : jobs) {
    if (completed.count(job->job_id)) continue;
    Status status = outcome->datasets.count(job->version.name)
                        ? outcome->datasets.at(job->version.name)
                        : UnknownError("no result");
    if (status.code() == StatusCode::kFailedPrecondition &&
        status.message().find("lost its lease") != std::string::npos) {
      // Another worker owns it now and records its own result; this one is discarded.
      log.warn("job {} ({} on {}): result discarded: the lease was lost to another worker",
               job->job_id, claim.display_name, job->version.name);
      continue;
    }
    std::string error = status.ok() ? "not recorded" : status.message();
    if (!general.empty()) error += " (" + general + ")";
    fail(*job, error, status.code() == StatusCode::kInvalidArgument);
  }
}

bool Daemon::State::CheckTransfer(QueueStore& store, const CheckedCheckpoint& checkpoint,
                                  const std::string& run) {
  DaemonConfig c = Config();
  TransferCheckOptions options;
  options.primary_dataset = c.primary_dataset;
  options.alpha = c.alpha;
  options.min_gain = c.min_gain;
  // The mark as it is before the checks read anything: a result recorded while they run marks
  // the checkpoint again, and that mark stays.
  ChecksDueFilter mine;
  mine.checkpoint_id = checkpoint.id;
  mine.limit = 1;
  auto due = store.ListChecksDue(mine);
  auto summary = due.ok() ? RunTransferChecks(store, checkpoint, options)
                          : StatusOr<TransferCheckSummary>(due.status());
  if (!summary.ok()) {
    // The evaluations are recorded and the checks stay owed: a planner's sweep runs them.
    Log()->warn("transfer checks of {}: {}", checkpoint.display_name, summary.status().ToString());
    errors->WithLabelValues({"analysis"}).Inc();
    return false;
  }
  for (const auto& why : summary->not_paired) Log()->info("{}: {}", checkpoint.display_name, why);
  if (summary->regressions > 0 || summary->no_transfers > 0) {
    Log()->warn("{}: {} regression flag(s), {} no-transfer note(s) against {} reference(s)",
                checkpoint.display_name, summary->regressions, summary->no_transfers,
                summary->references);
  }
  flags_raised->Inc(summary->regressions + summary->no_transfers);

  // A reference evaluated after the checkpoints that compare with it (a late file, a re-queued
  // job, a dataset added later): their checks missed these results; run them again.
  auto dependents = DependentCheckpoints(store, checkpoint.id, run, options);
  if (!dependents.ok()) {
    Log()->warn("re-checking after {}: {}", checkpoint.display_name,
                dependents.status().ToString());
    errors->WithLabelValues({"analysis"}).Inc();
    return false;
  }
  bool all_ran = true;
  for (const CheckedCheckpoint& dependent : *dependents) {
    auto again = RunTransferChecks(store, dependent, options);
    if (!again.ok()) {
      Log()->warn("transfer checks of {}: {}", dependent.display_name, again.status().ToString());
      errors->WithLabelValues({"analysis"}).Inc();
      all_ran = false;
      continue;
    }
    // (flags_raised counts a checkpoint's flags when its own evaluation is checked; flags
    // that only a re-check records show in the log and in `transferwatch flags`.)
    if (again->new_rows > 0) {
      Log()->info("{}: {} comparison(s) recorded now that {} has results", dependent.display_name,
                  again->new_rows, checkpoint.display_name);
    }
  }
  if (!all_ran) return false;
  if (!due->empty()) {
    Status cleared = store.ClearChecksDue(checkpoint.id, due->front().due_micros);
    if (!cleared.ok()) {
      // Harmless: the sweep runs the (idempotent) checks once more.
      Log()->warn("transfer checks of {}: {}", checkpoint.display_name, cleared.ToString());
    }
  }
  return true;
}

void Daemon::State::SweepChecksDue(QueueStore& store) {
  ChecksDueFilter filter;
  // A worker that has just recorded a result is on its checks: leave them to it for a lease.
  filter.older_than = Config().lease;
  filter.limit = 20;
  auto due = store.ListChecksDue(filter);
  if (!due.ok()) {
    Log()->warn("owed transfer checks: {}", due.status().ToString());
    errors->WithLabelValues({"analysis"}).Inc();
    return;
  }
  for (const ChecksDue& owed : *due) {
    Log()->info("{}: running its owed transfer checks (they did not run after its result)",
                owed.display_name);
    CheckTransfer(store,
                  CheckedCheckpoint{owed.checkpoint_id, owed.display_name, owed.sha256, owed.step},
                  owed.run);
  }
}

void Daemon::State::SenderLoop() {
  std::unique_ptr<QueueStore> store;
  int failures = 0;
  DaemonConfig c = Config();
  WebhookSenderOptions options;
  options.max_messages_per_minute = c.alerts_max_messages_per_minute;
  options.max_events_per_message = c.alerts_max_events_per_message;
  WebhookSender sender(*deps.clock, options);
  while (!stopping) {
    if (!store) {
      auto connected = ConnectWithBackoff("sender");
      if (!connected.ok()) break;
      store = std::move(*connected);
    }
    uint64_t generation;
    {
      std::lock_guard<std::mutex> lock(send_mu);
      generation = send_generation;
    }
    auto sent = sender.SendDue(*store, FreshToken());
    if (!sent.ok()) {
      Log()->warn("sender: {}", sent.status().ToString());
      store.reset();
      if (!SleepUnlessStopping(ReconnectDelay(failures++))) break;
      continue;
    }
    failures = 0;
    deliveries->WithLabelValues({"delivered"}).Inc(sent->delivered);
    deliveries->WithLabelValues({"pending"}).Inc(sent->retrying);
    deliveries->WithLabelValues({"dead"}).Inc(sent->dead);
    // NOTIFY on tw_outbox wakes us when an event commits; polling once a second stays the
    // truth (retries come due, and a rate limit frees, without a notification).
    if (sent->messages == 0) {
      std::unique_lock<std::mutex> lock(send_mu);
      send_cv.wait_for(lock, milliseconds(1000),
                       [&] { return stopping || send_generation != generation; });
    }
  }
}

void Daemon::State::WorkerLoop(int slot) {
  std::string worker = deps.host + ":" + std::to_string(::getpid()) + ":" + std::to_string(slot);
  std::unique_ptr<QueueStore> store;
  int failures = 0;
  while (!stopping) {
    if (!store) {
      auto connected = ConnectWithBackoff(worker.c_str());
      if (!connected.ok()) break;
      store = std::move(*connected);
    }
    uint64_t generation;
    {
      std::lock_guard<std::mutex> lock(work_mu);
      generation = work_generation;
    }
    DaemonConfig c = Config();
    ClaimRequest request;
    request.worker = worker;
    request.evaluator_version = kEvaluatorVersion;
    request.lease = c.lease;
    request.lease_token = FreshToken();
    auto claim = store->ClaimNext(request, deps.host);
    if (!claim.ok()) {
      Log()->warn("{}: claiming: {}", worker, claim.status().ToString());
      errors->WithLabelValues({"database"}).Inc();
      store.reset();
      if (!SleepUnlessStopping(ReconnectDelay(failures++))) break;
      continue;
    }
    failures = 0;
    if (!claim->has_value()) {
      std::unique_lock<std::mutex> lock(work_mu);
      work_cv.wait_for(lock, c.poll_interval,
                       [&] { return stopping || work_generation != generation; });
      continue;
    }
    workers_busy->Inc();
    Evaluate(*store, **claim, worker);
    workers_busy->Dec();
  }
}

void Daemon::State::ListenerLoop() {
  if (!deps.listen) return;
  std::unique_ptr<JobNotifications> listener;
  int failures = 0;
  while (!stopping) {
    if (!listener) {
      auto connected = deps.listen();
      if (!connected.ok()) {
        if (!SleepUnlessStopping(ReconnectDelay(failures++))) break;
        continue;
      }
      listener = std::move(*connected);
      WakeWorkers();  // anything queued while we were away
    }
    auto n = listener->Wait(milliseconds(500));
    if (!n.ok()) {
      // A server that keeps ending the session must not make this a busy loop.
      listener.reset();
      if (!SleepUnlessStopping(ReconnectDelay(failures++))) break;
      continue;
    }
    failures = 0;
    if (*n > 0) {
      WakeWorkers();
      WakeSender();
    }
  }
}

// ---- API ----------------------------------------------------------------------------------

api::HttpResponse Daemon::State::WithApiStore(
    const std::function<api::HttpResponse(QueueStore&)>& fn) {
  std::unique_ptr<QueueStore> store;
  {
    std::unique_lock<std::mutex> lock(api_store_mu);
    api_store_cv.wait(
        lock, [&] { return !idle_api_stores.empty() || api_stores_open < kApiConnections; });
    if (!idle_api_stores.empty()) {
      store = std::move(idle_api_stores.back());
      idle_api_stores.pop_back();
    } else {
      ++api_stores_open;
    }
  }
  auto give_back = [&](std::unique_ptr<QueueStore> keep) {
    {
      std::lock_guard<std::mutex> lock(api_store_mu);
      if (keep) {
        idle_api_stores.push_back(std::move(keep));
      } else {
        --api_stores_open;
      }
    }
    api_store_cv.notify_one();
  };
  if (!store) {
    auto connected = deps.connect();
    if (!connected.ok()) {
      give_back(nullptr);
      return api::JsonError(503, "unavailable", "the database is unavailable");
    }
    store = std::move(*connected);
  }
  api::HttpResponse response = fn(*store);
  if (response.status == 503) store.reset();
  give_back(std::move(store));
  return response;
}

namespace {

api::HttpResponse FromStatus(const Status& status, std::optional<std::string_view> field = {}) {
  switch (status.code()) {
    case StatusCode::kInvalidArgument:
      return api::JsonError(400, "invalid_argument", status.message(), field);
    case StatusCode::kNotFound:
      return api::JsonError(404, "not_found", status.message(), field);
    case StatusCode::kUnavailable:
    case StatusCode::kUnknown:
      return api::JsonError(503, "unavailable", "the database is unavailable");
    case StatusCode::kFailedPrecondition:
      return api::JsonError(409, "failed_precondition", status.message(), field);
    case StatusCode::kPermissionDenied:
      return api::JsonError(403, "permission_denied", status.message(), field);
    default:
      return api::JsonError(500, "internal", "internal error");
  }
}

std::optional<std::string> QueryValue(const api::HttpRequest& request, const std::string& key) {
  auto it = request.query.find(key);
  if (it == request.query.end()) return std::nullopt;
  return it->second;
}

// Query parameters from outside: a missing one is nullopt, a malformed or out-of-range one an
// InvalidArgument naming it and what it takes.
StatusOr<std::optional<int64_t>> IntParam(const api::HttpRequest& request, const std::string& key,
                                          int64_t low, int64_t high) {
  auto text = QueryValue(request, key);
  if (!text) return std::optional<int64_t>();
  auto value = ParseInt64(*text);
  if (!value.ok() || *value < low || *value > high) {
    return InvalidArgumentError(key + " must be an integer from " + std::to_string(low) + " to " +
                                std::to_string(high));
  }
  return std::optional<int64_t>(*value);
}

StatusOr<std::optional<bool>> BoolParam(const api::HttpRequest& request, const std::string& key) {
  auto text = QueryValue(request, key);
  if (!text) return std::optional<bool>();
  if (*text != "0" && *text != "1") return InvalidArgumentError(key + " must be 0 or 1");
  return std::optional<bool>(*text == "1");
}

StatusOr<int64_t> LimitParam(const api::HttpRequest& request, int64_t fallback) {
  TW_ASSIGN_OR_RETURN(std::optional<int64_t> limit, IntParam(request, "limit", 1, 10000));
  return limit.value_or(fallback);
}

}  // namespace

std::vector<api::Route> Daemon::State::Routes() {
  std::vector<api::Route> routes;
  routes.push_back({"GET", "/healthz", true, "liveness: the process answers",
                    [](const api::HttpRequest&) { return api::JsonOk("{\"status\":\"ok\"}"); }});
  routes.push_back({"GET", "/readyz", false, "readiness: database, schema and watcher",
                    [this](const api::HttpRequest&) {
                      return WithApiStore([&](QueueStore& store) {
                        auto counts = store.CountJobs();
                        Json body = {{"database", counts.ok()},
                                     {"schema_version", deps.schema_version},
                                     {"watcher", watcher_up.load()},
                                     {"stopping", stopping.load()}};
                        bool is_ready = counts.ok() && watcher_up && !stopping;
                        body["ready"] = is_ready;
                        api::HttpResponse r = api::JsonOk(JsonText(body), is_ready ? 200 : 503);
                        return r;
                      });
                    }});
  routes.push_back(
      {"GET", "/metrics", false, "Prometheus metrics", [this](const api::HttpRequest&) {
         WithApiStore([&](QueueStore& store) {
           if (auto counts = store.CountJobs(); counts.ok()) {
             jobs_by_state->WithLabelValues({"pending"}).Set(counts->pending);
             jobs_by_state->WithLabelValues({"running"}).Set(counts->running);
             jobs_by_state->WithLabelValues({"done"}).Set(counts->done);
             jobs_by_state->WithLabelValues({"dead"}).Set(counts->dead);
             jobs_by_state->WithLabelValues({"cancelled"}).Set(counts->cancelled);
           }
           return api::JsonOk("{}");
         });
         api::HttpResponse r;
         r.content_type = std::string(kPrometheusContentType);
         r.body = metrics.Render();
         return r;
       }});
  // The JSON endpoints run the CLI's own commands with --format json: the same shapes, the same
  // validation of every parameter, by construction.
  using Command = std::function<Status(const api::HttpRequest&, QueueStore&, cli::CommandContext&)>;
  auto command_route = [this](std::string pattern, std::string summary, Command command) {
    return api::Route{
        "GET", std::move(pattern), false, std::move(summary),
        [this, command](const api::HttpRequest& request) {
          return WithApiStore([&](QueueStore& store) {
            std::ostringstream out;
            cli::CommandContext ctx{store, cli::OutputFormat::kJson, out, deps.clock->WallNow()};
            Status status = command(request, store, ctx);
            if (!status.ok()) return FromStatus(status);
            return api::JsonOk(out.str());
          });
        }};
  };
  routes.push_back(command_route(
      "/v1/checkpoints", "checkpoints (?checkpoint=GLOB&run=GLOB&limit=N), as `checkpoints list`",
      [](const api::HttpRequest& request, QueueStore&, cli::CommandContext& ctx) -> Status {
        cli::ListCheckpointsOptions options;
        options.glob = QueryValue(request, "checkpoint");
        options.run_glob = QueryValue(request, "run");
        TW_ASSIGN_OR_RETURN(options.limit, LimitParam(request, 100));
        return cli::ListCheckpoints(ctx, options);
      }));
  routes.push_back(command_route(
      "/v1/evaluations",
      "evaluations (?checkpoint=GLOB&dataset=NAME...&run=GLOB&since=7d&sort=METRIC&limit=N), as "
      "`results`",
      [](const api::HttpRequest& request, QueueStore&, cli::CommandContext& ctx) -> Status {
        cli::ResultsOptions options;
        options.model_glob = QueryValue(request, "checkpoint");
        options.run_glob = QueryValue(request, "run");
        options.since = QueryValue(request, "since");
        options.sort = QueryValue(request, "sort").value_or("");
        auto range = request.query.equal_range("dataset");
        for (auto it = range.first; it != range.second; ++it)
          options.datasets.push_back(it->second);
        TW_ASSIGN_OR_RETURN(options.limit, LimitParam(request, 100));
        return cli::Results(ctx, options);
      }));
  routes.push_back(command_route(
      "/v1/jobs", "jobs (?state=S...&dataset=NAME&limit=N), as `jobs list`",
      [](const api::HttpRequest& request, QueueStore& store, cli::CommandContext& ctx) -> Status {
        cli::ListJobsOptions options;
        auto range = request.query.equal_range("state");
        for (auto it = range.first; it != range.second; ++it) options.states.push_back(it->second);
        options.dataset = QueryValue(request, "dataset");
        TW_ASSIGN_OR_RETURN(options.limit, LimitParam(request, 100));
        return cli::ListJobsCommand(ctx, store, options);
      }));
  routes.push_back(command_route(
      "/v1/flags",
      "regression flags and no-transfer notes "
      "(?run=GLOB&kind=K&since=7d&unacknowledged=1&limit=N), "
      "as `flags`",
      [](const api::HttpRequest& request, QueueStore&, cli::CommandContext& ctx) -> Status {
        cli::FlagsOptions options;
        options.run_glob = QueryValue(request, "run");
        options.kind = QueryValue(request, "kind");
        options.since = QueryValue(request, "since");
        TW_ASSIGN_OR_RETURN(std::optional<bool> unacknowledged,
                            BoolParam(request, "unacknowledged"));
        options.unacknowledged = unacknowledged.value_or(false);
        TW_ASSIGN_OR_RETURN(options.limit, LimitParam(request, 100));
        return cli::FlagsCommand(ctx, options);
      }));
  routes.push_back(command_route(
      "/v1/report",
      "the transfer report over the pool (?reference=NAME&dataset=NAME...&top=N&delta=P&run=GLOB"
      "&exclude_imported=1), as `report`",
      [](const api::HttpRequest& request, QueueStore&, cli::CommandContext& ctx) -> Status {
        cli::ReportCommandOptions options;
        options.report.reference = QueryValue(request, "reference");
        auto range = request.query.equal_range("dataset");
        for (auto it = range.first; it != range.second; ++it)
          options.report.datasets.push_back(it->second);
        options.report.run_glob = QueryValue(request, "run");
        TW_ASSIGN_OR_RETURN(std::optional<int64_t> top, IntParam(request, "top", 1, 1000000));
        if (top) options.report.top = static_cast<int>(*top);
        if (auto v = QueryValue(request, "delta")) {
          auto delta = ParseDecimal(*v);
          if (!delta.ok() || !(*delta >= 0) || *delta > 100) {
            return InvalidArgumentError("delta must be a number of points from 0 to 100");
          }
          options.report.delta = *delta;
        }
        TW_ASSIGN_OR_RETURN(std::optional<bool> exclude_imported,
                            BoolParam(request, "exclude_imported"));
        options.report.exclude_imported = exclude_imported.value_or(false);
        return cli::Report(ctx, options);
      }));
  routes.push_back(command_route(
      "/v1/status", "job counts by state, checkpoints, evaluations, datasets, as `status`",
      [](const api::HttpRequest&, QueueStore& store, cli::CommandContext& ctx) -> Status {
        return cli::StatusCommand(ctx, store);
      }));
  routes.push_back(
      {"GET", "/v1/runs", false, "runs with their checkpoint counts and latest step",
       [this](const api::HttpRequest&) {
         return WithApiStore([&](QueueStore& store) {
           CheckpointFilter filter;
           filter.origin = "file";
           auto list = store.ListCheckpoints(filter);
           if (!list.ok()) return FromStatus(list.status());
           std::map<std::string, Json> runs;
           for (const auto& c : *list) {
             Json& run = runs[c.run.value_or("")];
             if (run.is_null()) {
               run = {{"run", c.run.value_or("")}, {"checkpoints", 0}, {"latest_step", nullptr}};
             }
             run["checkpoints"] = run["checkpoints"].get<int64_t>() + 1;
             if (c.step &&
                 (run["latest_step"].is_null() || run["latest_step"].get<int64_t>() < *c.step)) {
               run["latest_step"] = *c.step;
             }
           }
           Json items = Json::array();
           for (auto& [name, run] : runs) items.push_back(run);
           return api::JsonOk(JsonText({{"runs", items}}));
         });
       }});
  routes.push_back(
      {"POST", "/v1/checkpoints", false,
       "register a checkpoint file under a watch root: {\"path\": \"/abs/root/run/file.pt\"}",
       [this](const api::HttpRequest& request) {
         Json body = Json::parse(request.body, nullptr, false);
         if (body.is_discarded() || !body.is_object()) {
           return api::JsonError(400, "invalid_argument", "the body is not a JSON object");
         }
         for (const auto& [key, value] : body.items()) {
           if (key != "path") {
             return api::JsonError(400, "invalid_argument", "unknown field (allowed: path)", key);
           }
         }
         if (!body.contains("path") || !body["path"].is_string()) {
           return api::JsonError(400, "invalid_argument", "path must be a string", "path");
         }
         std::string path = body["path"].get<std::string>();
         if (path.empty() || path[0] != '/' || path.size() > 4096) {
           return api::JsonError(400, "invalid_argument", "path must be absolute", "path");
         }
         // The kernel reads a path up to its first NUL: "<root>/run/a.pt\0/../../x" would
         // register a.pt under a name that says otherwise.
         if (path.find('\0') != std::string::npos) {
           return api::JsonError(400, "invalid_argument", "path must not contain a NUL byte",
                                 "path");
         }
         char resolved[PATH_MAX];
         if (::realpath(path.c_str(), resolved) == nullptr) {
           return api::JsonError(404, "not_found", "no such file", "path");
         }
         std::string real = resolved;
         // Only files under a watch root, as <root>/<run>/<file>: the API never reads
         // anything else on this host.
         DaemonConfig c = Config();
         for (const auto& root : c.watch_roots) {
           char root_real[PATH_MAX];
           if (::realpath(root.c_str(), root_real) == nullptr) continue;
           std::string prefix = std::string(root_real) + "/";
           if (real.rfind(prefix, 0) != 0) continue;
           std::string rest = real.substr(prefix.size());
           auto slash = rest.find('/');
           if (slash == std::string::npos || rest.find('/', slash + 1) != std::string::npos) {
             return api::JsonError(400, "invalid_argument",
                                   "path must be <watch root>/<run>/<file>", "path");
           }
           auto check = watch::InspectTorchFile(real);
           if (!check.ok()) return FromStatus(check.status(), "path");
           if (!watch::CheckpointFormatName(check->kind)) {
             return api::JsonError(422, "not_a_checkpoint", check->reason, "path");
           }
           watch::ReadyFile file;
           file.root = root_real;
           file.run = rest.substr(0, slash);
           file.file_name = rest.substr(slash + 1);
           file.path = real;
           file.size = check->size;
           file.mtime_ns = check->mtime_ns;
           file.check = *check;
           file.is_arch = file.file_name == watch::kArchFileName;
           {
             std::lock_guard<std::mutex> lock(reg_mu);
             ready.push_back(std::move(file));
           }
           reg_cv.notify_all();
           return api::JsonOk(JsonText({{"accepted", true}, {"path", real}}), 202);
         }
         return api::JsonError(403, "permission_denied", "path is not under a watch root", "path");
       }});
  // The route table itself, for clients and for the test that checks auth on every route.
  Json index = Json::array();
  for (const auto& r : routes) {
    index.push_back({{"method", r.method},
                     {"path", r.pattern},
                     {"summary", r.summary},
                     {"public", r.public_route}});
  }
  index.push_back(
      {{"method", "GET"}, {"path", "/v1"}, {"summary", "this route table"}, {"public", false}});
  std::string index_json = JsonText({{"routes", index}});
  routes.push_back({"GET", "/v1", false, "this route table",
                    [index_json](const api::HttpRequest&) { return api::JsonOk(index_json); }});
  // The dashboard's HTML pages (dashboard/routes.h, docs/dashboard.md) come after the index:
  // /v1 lists the JSON API, whose routes take the bearer token only.
  dashboard::DashboardOptions dashboard_options;
  dashboard_options.with_store = [this](const std::function<api::HttpResponse(Store&)>& fn) {
    return WithApiStore([&](QueueStore& store) { return fn(store); });
  };
  dashboard_options.clock = deps.clock;
  for (auto& route : dashboard::DashboardRoutes(std::move(dashboard_options))) {
    routes.push_back(std::move(route));
  }
  return routes;
}

// ---- the daemon ---------------------------------------------------------------------------

Daemon::Daemon(DaemonDeps deps) : state_(std::make_unique<State>(std::move(deps))) {
  state_->RegisterMetrics();
}
Daemon::~Daemon() = default;

MetricsRegistry& Daemon::metrics() { return state_->metrics; }
int Daemon::api_port() const { return state_->api_port; }
std::vector<api::Route> Daemon::ApiRoutes() { return state_->Routes(); }

void Daemon::Stop() {
  boost::asio::post(state_->io, [s = state_.get()] { s->BeginStop(); });
}

Status Daemon::Run() {
  State& s = *state_;
  auto& log = *s.Log();
  DaemonConfig config = s.Config();
  TW_RETURN_IF_ERROR(ValidateDaemonConfig(config));

  // Job folders of evaluator runs whose daemon died (SIGKILL, power loss) hold manifests and
  // predictions: removed before anything else.
  int swept = runner::SweepStaleJobFolders(s.deps.work_dir);
  if (swept > 0) log.info("removed {} job folder(s) left by a daemon that died", swept);

  // The database first: nothing works without it, and READY must mean it is reachable.
  {
    auto probe = s.deps.connect();
    if (!probe.ok()) return probe.status();
    s.database_up = true;
  }

  watch::IntakeOptions intake_options;
  intake_options.roots = config.watch_roots;
  intake_options.patterns = config.patterns;
  intake_options.settle = config.settle;
  intake_options.use_inotify = config.inotify;
  TW_ASSIGN_OR_RETURN(std::unique_ptr<watch::Intake> intake,
                      watch::Intake::Create(intake_options, *s.deps.clock));

  std::unique_ptr<api::HttpServer> server;
  if (config.api_enabled) {
    api::ServerOptions options;
    options.bind_host = config.api_bind;
    options.port = config.api_port;
    if (config.api_token_file) {
      TW_ASSIGN_OR_RETURN(options.token, api::ReadTokenFile(*config.api_token_file));
    }
    TW_ASSIGN_OR_RETURN(server, api::HttpServer::Start(options, s.Routes(), &s.metrics));
    s.api_port = server->port();
    log.info("HTTP API on {}:{}", config.api_bind, server->port());
  }

  std::vector<std::thread> threads;
  threads.emplace_back([&] { s.RegistrarLoop(); });
  threads.emplace_back([&] { s.ListenerLoop(); });
  threads.emplace_back([&] { s.SenderLoop(); });
  for (int slot = 0; slot < config.slots; ++slot) {
    threads.emplace_back([&, slot] { s.WorkerLoop(slot); });
  }

  namespace asio = boost::asio;
  asio::signal_set signals(s.io, SIGTERM, SIGINT, SIGHUP);
  asio::steady_timer poll_timer(s.io), rescan_timer(s.io), watchdog_timer(s.io);
  std::unique_ptr<asio::posix::stream_descriptor> inotify;

  auto hand_over = [&](watch::IntakeBatch batch) {
    for (const auto& refused : batch.refused) {
      log.warn("refused \"{}\": {}", watch::EscapeName(refused.path), refused.reason);
      s.files_refused->Inc();
    }
    if (batch.ready.empty()) return;
    {
      std::lock_guard<std::mutex> lock(s.reg_mu);
      for (auto& file : batch.ready) s.ready.push_back(std::move(file));
    }
    s.files_seen->Inc(batch.ready.size());
    s.reg_cv.notify_all();
  };
  std::function<void()> schedule_poll = [&] {
    if (s.stopping) return;
    hand_over(intake->Poll());
    auto next = intake->NextDeadline();
    auto now = std::chrono::steady_clock::now();
    auto at = next ? std::max(*next, now + milliseconds(5)) : now + milliseconds(1000);
    poll_timer.expires_at(std::min(at, now + milliseconds(1000)));
    poll_timer.async_wait([&](const boost::system::error_code& ec) {
      if (!ec) schedule_poll();
    });
  };
  std::function<void()> wait_inotify = [&] {
    if (!inotify || s.stopping) return;
    inotify->async_wait(asio::posix::stream_descriptor::wait_read,
                        [&](const boost::system::error_code& ec) {
                          if (ec) return;
                          intake->DrainEvents();
                          poll_timer.cancel();
                          schedule_poll();
                          wait_inotify();
                        });
  };
  std::function<void()> schedule_rescan = [&] {
    rescan_timer.expires_after(s.Config().rescan_interval);
    rescan_timer.async_wait([&](const boost::system::error_code& ec) {
      if (ec || s.stopping) return;
      intake->Rescan();
      poll_timer.cancel();
      schedule_poll();
      schedule_rescan();
    });
  };
  std::function<void()> schedule_watchdog = [&] {
    if (s.deps.watchdog_interval.count() <= 0 || !s.deps.notify) return;
    watchdog_timer.expires_after(s.deps.watchdog_interval);
    watchdog_timer.async_wait([&](const boost::system::error_code& ec) {
      if (ec) return;
      s.deps.notify("WATCHDOG=1");
      schedule_watchdog();
    });
  };
  auto reload = [&] {
    if (!s.deps.config_path) {
      log.info("SIGHUP: no config file to reload");
      return;
    }
    auto fresh = LoadDaemonConfig(*s.deps.config_path);
    if (fresh.ok()) {
      for (const auto& root : s.deps.command_line_roots) {
        if (std::find(fresh->watch_roots.begin(), fresh->watch_roots.end(), root) ==
            fresh->watch_roots.end()) {
          fresh->watch_roots.push_back(root);
        }
      }
    }
    Status valid = fresh.ok() ? ValidateDaemonConfig(*fresh) : fresh.status();
    if (!valid.ok()) {
      log.error("SIGHUP: keeping the running config: {}", valid.ToString());
      s.errors->WithLabelValues({"config"}).Inc();
      return;
    }
    DaemonConfig next = *fresh;
    DaemonConfig current = s.Config();
    // The command line's choices and what needs a restart stay as they are.
    next.slots = current.slots;
    next.api_enabled = current.api_enabled;
    next.api_bind = current.api_bind;
    next.api_port = current.api_port;
    next.api_token_file = current.api_token_file;
    next.database_url = current.database_url;
    next.state_dir = current.state_dir;
    bool intake_changed = next.watch_roots != current.watch_roots ||
                          next.patterns != current.patterns || next.settle != current.settle ||
                          next.inotify != current.inotify;
    if (intake_changed) {
      watch::IntakeOptions options;
      options.roots = next.watch_roots;
      options.patterns = next.patterns;
      options.settle = next.settle;
      options.use_inotify = next.inotify;
      auto replacement = watch::Intake::Create(options, *s.deps.clock);
      if (!replacement.ok()) {
        log.error("SIGHUP: keeping the running config: {}", replacement.status().ToString());
        return;
      }
      if (inotify) {
        inotify->cancel();
        inotify->release();
        inotify.reset();
      }
      intake = std::move(*replacement);
      if (intake->inotify_fd() >= 0) {
        inotify = std::make_unique<asio::posix::stream_descriptor>(s.io, intake->inotify_fd());
        wait_inotify();
      }
      intake->Rescan();
    }
    {
      std::lock_guard<std::mutex> lock(s.config_mu);
      s.config = next;
    }
    {
      std::lock_guard<std::mutex> lock(s.reg_mu);
      s.plan_requested = true;
    }
    s.reg_cv.notify_all();
    log.info("SIGHUP: config reloaded from {}", *s.deps.config_path);
  };
  std::function<void()> wait_signal = [&] {
    signals.async_wait([&](const boost::system::error_code& ec, int signal) {
      if (ec) return;
      if (signal == SIGHUP) {
        reload();
        wait_signal();
        return;
      }
      s.BeginStop();
    });
  };
  // Stopping: close the intake's work and let io.run() return once the workers are done.
  asio::steady_timer stop_watch(s.io);
  std::function<void()> watch_stop = [&] {
    stop_watch.expires_after(milliseconds(50));
    stop_watch.async_wait([&](const boost::system::error_code& ec) {
      if (ec) return;
      if (!s.stopping) {
        watch_stop();
        return;
      }
      poll_timer.cancel();
      rescan_timer.cancel();
      watchdog_timer.cancel();
      signals.cancel();
      if (inotify) {
        inotify->cancel();
        inotify->release();
      }
    });
  };

  if (intake->inotify_fd() >= 0) {
    inotify = std::make_unique<asio::posix::stream_descriptor>(s.io, intake->inotify_fd());
    wait_inotify();
  }
  intake->Rescan();
  s.watcher_up = true;
  schedule_poll();
  schedule_rescan();
  schedule_watchdog();
  wait_signal();
  watch_stop();
  if (s.deps.notify)
    s.deps.notify("READY=1\nSTATUS=watching " + std::to_string(config.watch_roots.size()) +
                  " folder(s)");
  log.info("ready: watching {} folder(s), {} worker slot(s), evaluator {}",
           config.watch_roots.size(), config.slots, s.deps.evaluator);

  s.io.run();

  s.watcher_up = false;
  for (auto& t : threads) t.join();
  if (server) server->Stop();
  log.info("stopped");
  return OkStatus();
}

}  // namespace tw::daemon
