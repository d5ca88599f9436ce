// The embedded default: a private PostgreSQL cluster in the state directory, used when no
// database URL is configured.
//
// Layout under the state directory:
//   pg/                 owned by the cluster user, mode 0700
//   pg/data/            the cluster (PGDATA), created by initdb on first use
//   pg/socket/          its unix socket (no TCP at all); /tmp/tw-<uid>-<hash> when the state
//                       directory's path is too long for a socket address (~107 bytes)
//   pg/server.log       the server's log
//   pg-control.lock     held exclusively while a process starts or stops the cluster
//   pg-users.lock       every process using the cluster holds a shared lock on it
//   pg-pinned           present after `db start`: keep the cluster running when idle
//
// Sharing: the shared locks are the reference count. A process leaving takes the control lock,
// drops its shared lock and, if it can then lock pg-users.lock exclusively, nobody else uses the
// cluster and it is stopped (unless pinned). flock(2) locks die with their process, so a
// SIGKILLed user never leaks a reference.
//
// As root: initdb and postgres refuse to run as root, so the cluster runs as an unprivileged
// user: the owner of an existing cluster, else `cluster_user`, else "transferwatch" when that
// user exists, else "postgres". That user must be able to reach the state directory.
#pragma once

#include <chrono>
#include <memory>
#include <optional>
#include <string>

#include "common/file_util.h"
#include "common/status.h"

namespace tw {

struct EmbeddedClusterOptions {
  std::string state_dir;                    // absolute path
  std::optional<std::string> cluster_user;  // used only when running as root
  std::string pg_bin_dir;                   // empty: the newest /usr/lib/postgresql/N/bin, N >= 13
  std::chrono::milliseconds lock_timeout{std::chrono::minutes(2)};
  bool fsync = true;  // throwaway clusters in tests turn it off
};

struct EmbeddedClusterState {
  std::string state_dir;
  std::string data_dir;
  std::string socket_dir;
  std::string cluster_user;
  std::string pg_bin_dir;
  bool initialized = false;
  bool running = false;
  bool pinned = false;
  std::string conninfo;
};

class EmbeddedCluster {
 public:
  // Creates the cluster on first use, starts it when it is not running, and registers this
  // process as a user until Leave() or destruction. Unavailable when it cannot be started
  // (with the tail of the server log), PermissionDenied when the cluster user cannot reach
  // the state directory.
  static StatusOr<std::unique_ptr<EmbeddedCluster>> Acquire(const EmbeddedClusterOptions& options);

  // Registers this process as a user only if the cluster is running now (null otherwise): a
  // reader such as `db status` that must neither start it nor have it stopped underneath.
  static StatusOr<std::unique_ptr<EmbeddedCluster>> AttachIfRunning(
      const EmbeddedClusterOptions& options);

  // Reads the state without starting anything.
  static StatusOr<EmbeddedClusterState> Inspect(const EmbeddedClusterOptions& options);

  // Marks the cluster to keep running while idle (`db start` = Acquire + Pin).
  Status Pin();

  // Removes the pin and stops the cluster if no process uses it, or regardless with `force`
  // (clients are disconnected). Returns whether it is stopped now.
  static StatusOr<bool> Stop(const EmbeddedClusterOptions& options, bool force);

  // Deregisters this process; stops the cluster when it was the last user and no pin is set.
  Status Leave();
  ~EmbeddedCluster();

  const std::string& conninfo() const { return state_.conninfo; }
  const EmbeddedClusterState& state() const { return state_; }

  EmbeddedCluster(const EmbeddedCluster&) = delete;
  EmbeddedCluster& operator=(const EmbeddedCluster&) = delete;

 private:
  EmbeddedCluster(EmbeddedClusterOptions options, EmbeddedClusterState state, FileLock users);

  EmbeddedClusterOptions options_;
  EmbeddedClusterState state_;
  FileLock users_lock_;
  bool left_ = false;
};

// Quotes a value for a libpq key=value conninfo string.
std::string ConninfoQuote(const std::string& value);

}  // namespace tw
