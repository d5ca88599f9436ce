// transferwatchd's engine: intake -> registrar -> planner -> queue <- workers -> evaluator.
//
// Threads (each with its own database connection, reconnected with backoff after a failure):
//   main       the Asio loop: signals, the inotify descriptor, intake and rescan timers,
//              watchdog pings, the HTTP server's lifetime;
//   registrar  hashes settled files and registers them, plans jobs, rescues expired leases;
//   listener   LISTEN tw_jobs, wakes idle workers;
//   worker xN  claim -> run transferwatch-eval (heartbeats from its keep_going) -> complete or
//              fail each job under the claim's lease.
// No transaction is open while an evaluation runs: each database call is its own.
//
// Only main.cc builds the real store, listener and clock and passes them in.
#pragma once

#include <atomic>
#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "api/http_server.h"
#include "common/clock.h"
#include "common/metrics.h"
#include "common/status.h"
#include "daemon/config.h"
#include "store/job_queue.h"

namespace tw::daemon {

struct DaemonDeps {
  DaemonConfig config;
  std::optional<std::string> config_path;  // re-read on SIGHUP
  // Roots given with --watch: kept across reloads, added to the file's watch.roots.
  std::vector<std::string> command_line_roots;
  // A new database connection (one per thread).
  std::function<StatusOr<std::unique_ptr<QueueStore>>()> connect;
  // A new LISTEN connection; may be empty (polling only).
  std::function<StatusOr<std::unique_ptr<JobNotifications>>()> listen;
  Clock* clock = nullptr;
  std::string host;            // this machine's name: where checkpoint paths are valid
  std::string evaluator;       // transferwatch-eval's path
  std::string work_dir;        // evaluator job folders
  std::string schema_version;  // for /readyz
  // systemd's sd_notify ("READY=1", "WATCHDOG=1", "STOPPING=1", "STATUS=..."); may be empty.
  std::function<void(const std::string&)> notify;
  std::chrono::milliseconds watchdog_interval{0};  // 0: no watchdog pings
};

class Daemon {
 public:
  explicit Daemon(DaemonDeps deps);
  ~Daemon();
  Daemon(const Daemon&) = delete;
  Daemon& operator=(const Daemon&) = delete;

  // Runs until SIGTERM or SIGINT (or Stop()), then drains: no new claims, running evaluations
  // get drain_timeout to finish, then are stopped and their jobs released. Errors are failing to
  // start (watch roots, API bind, database).
  Status Run();
  // Thread-safe: the same as SIGTERM.
  void Stop();

  MetricsRegistry& metrics();
  int api_port() const;  // after READY; 0 when the API is off
  // The HTTP API's route table, built as Run() builds the one it serves: for the test that
  // checks every route's authentication (tests/security/), so that no route added later escapes.
  std::vector<api::Route> ApiRoutes();

 private:
  struct State;
  std::unique_ptr<State> state_;
};

}  // namespace tw::daemon
