// Running a child program to completion and capturing its output, optionally as another user.
// Used for initdb/pg_ctl (the embedded cluster); the daemon's long-running evaluator children get
// their own supervisor later.
#pragma once

#include <sys/types.h>

#include <chrono>
#include <cstdint>
#include <functional>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "common/status.h"

namespace tw {

struct UserIdentity {
  std::string name;
  uid_t uid = 0;
  gid_t gid = 0;
  std::string home;
};

// Looks the user up in the passwd database. NotFound when there is no such user.
StatusOr<UserIdentity> LookupUser(const std::string& name);
// The identity of the current process (its effective uid).
StatusOr<UserIdentity> CurrentUser();

struct ProcessSpec {
  std::vector<std::string> argv;  // argv[0] is the program: a path or a name searched in PATH
  // Changes to the inherited environment: "KEY=value" sets, "KEY" alone removes.
  std::vector<std::string> env;
  // Switch to this user (and its groups) before exec; requires root. The child then gets a
  // minimal environment (PATH, HOME, USER, LOGNAME) plus `env`, not ours.
  std::optional<UserIdentity> run_as;
  std::string working_directory;  // empty: inherit
  std::chrono::milliseconds timeout{std::chrono::minutes(5)};
  size_t max_output_bytes = 1 << 20;  // stdout and stderr together; the rest is dropped
  // Resource limits set in the child before exec (RLIMIT_AS, RLIMIT_NOFILE, RLIMIT_CORE...).
  std::vector<std::pair<int, uint64_t>> limits;
  // Run the child in a network namespace of its own (no interfaces but a down loopback). Needs
  // root (CAP_SYS_ADMIN); otherwise starting fails with an "unshare" PermissionDenied.
  bool no_network = false;
  // When set, stdout is read line by line (without the newline) and handed over as it arrives,
  // on the calling thread; ProcessResult::output then holds stderr only.
  std::function<void(std::string_view line)> on_stdout_line;
  // When set, asked on the calling thread about once a second (and after each line) whether
  // to go on; false stops the child: SIGTERM to its process group, then SIGKILL after
  // `stop_grace`. RunProcess then returns Cancelled. Supervisors use it for shutdown, lost
  // leases and heartbeats (the callback may do the heartbeat itself).
  std::function<bool()> keep_going;
  std::chrono::milliseconds stop_grace{std::chrono::seconds(5)};
};

struct ProcessResult {
  int exit_code = -1;             // valid when signal == 0
  int signal = 0;                 // the terminating signal, 0 when it exited
  bool network_isolated = false;  // it ran with no_network granted
  std::string output;             // stdout and stderr interleaved, truncated to max_output_bytes
  bool ok() const { return signal == 0 && exit_code == 0; }
  // "exited with 3" / "killed by signal 9 (Killed)"
  std::string Describe() const;
};

// Runs the program and waits for it. The child dies with the calling thread (PR_SET_PDEATHSIG)
// and inherits no descriptor but stdin (/dev/null), stdout and stderr (a pipe to us).
// A non-zero exit is NOT an error here (the result says so);
// errors are failing to start it (NotFound for a missing program), and the timeout
// (DeadlineExceeded, after the child was killed with SIGKILL) and a stop asked by keep_going
// (Cancelled, once the child is gone). stdin is /dev/null.
StatusOr<ProcessResult> RunProcess(const ProcessSpec& spec);

// This machine's name (gethostname), "localhost" when it has none: recorded with the paths a
// checkpoint was seen at, so workers on other hosts use only their own.
std::string LocalHostName();

// Quotes argv for log and error messages: initdb -D '/var/lib/x y'.
std::string ShellQuoteCommand(const std::vector<std::string>& argv);

}  // namespace tw
