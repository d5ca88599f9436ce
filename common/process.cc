#include "common/process.h"

#include <fcntl.h>
#include <grp.h>
#include <poll.h>
#include <pwd.h>
#include <sched.h>
#include <signal.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>

#include "common/file_util.h"

extern char** environ;

namespace tw {
namespace {

StatusOr<UserIdentity> FromPasswd(struct passwd* pw, const std::string& what) {
  if (pw == nullptr) return NotFoundError("no such user: " + what);
  UserIdentity user;
  user.name = pw->pw_name;
  user.uid = pw->pw_uid;
  user.gid = pw->pw_gid;
  user.home = pw->pw_dir ? pw->pw_dir : "";
  return user;
}

// Everything the child does between fork and exec must be async-signal-safe: no allocation.
// So argv/envp and the group list are prepared before forking.
[[noreturn]] void ChildExec(const ProcessSpec& spec, char* const* argv, char* const* envp,
                            const std::vector<gid_t>& groups, pid_t parent, int stdout_fd,
                            int stderr_fd, int error_fd) {
  auto fail = [error_fd](const char* what) {
    int err = errno;
    // Report "<what>:<errno>" to the parent through the close-on-exec error pipe.
    char buf[64];
    int len = 0;
    for (const char* p = what; *p && len < 40; ++p) buf[len++] = *p;
    buf[len++] = ':';
    char digits[12];
    int nd = 0;
    do {
      digits[nd++] = static_cast<char>('0' + err % 10);
      err /= 10;
    } while (err > 0 && nd < 11);
    while (nd > 0) buf[len++] = digits[--nd];
    ssize_t ignored = ::write(error_fd, buf, static_cast<size_t>(len));
    (void)ignored;
    ::_exit(127);
  };
  // Die with the parent: a killed CLI must not leave initdb writing on its own. (The setting
  // is not inherited by the child's own children, so pg_ctl's postmaster is unaffected.)
  if (::prctl(PR_SET_PDEATHSIG, SIGKILL) != 0) fail("prctl");
  if (::getppid() != parent) ::_exit(127);  // the parent died before prctl took effect
  int devnull = ::open("/dev/null", O_RDONLY | O_CLOEXEC);
  if (devnull < 0 || ::dup2(devnull, STDIN_FILENO) < 0) fail("stdin");
  if (::dup2(stdout_fd, STDOUT_FILENO) < 0 || ::dup2(stderr_fd, STDERR_FILENO) < 0) fail("dup2");
  // Nothing else of ours leaks into the child (a daemonised postmaster would keep it forever):
  // close every descriptor but 0-2 and the close-on-exec error pipe.
  if (error_fd > 3) ::close_range(3, static_cast<unsigned>(error_fd) - 1, 0);
  ::close_range(static_cast<unsigned>(error_fd) + 1, ~0U, 0);
  // A fresh process group, so a timeout can kill the whole tree.
  ::setpgid(0, 0);
  for (const auto& [resource, value] : spec.limits) {
    struct rlimit limit {
      static_cast<rlim_t>(value), static_cast<rlim_t>(value)
    };
    if (::setrlimit(resource, &limit) != 0) fail("setrlimit");
  }
  // A network namespace of its own: needs CAP_SYS_ADMIN (root, before dropping to run_as).
  // Refused here means the start fails with "unshare"; callers may retry without.
  if (spec.no_network && ::unshare(CLONE_NEWNET) != 0) fail("unshare");
  sigset_t none;
  sigemptyset(&none);
  ::sigprocmask(SIG_SETMASK, &none, nullptr);
  if (spec.run_as) {
    if (::setgroups(groups.size(), groups.data()) != 0) fail("setgroups");
    if (::setgid(spec.run_as->gid) != 0) fail("setgid");
    if (::setuid(spec.run_as->uid) != 0) fail("setuid");
    // A change of effective uid or gid clears the parent-death signal (prctl(2)): armed again,
    // or a daemon SIGKILLed as root leaves its evaluator running (found by scripts/chaos).
    if (::prctl(PR_SET_PDEATHSIG, SIGKILL) != 0) fail("prctl");
    if (::getppid() != parent) ::_exit(127);
  }
  if (!spec.working_directory.empty() && ::chdir(spec.working_directory.c_str()) != 0) {
    fail("chdir");
  }
  ::execvpe(argv[0], argv, envp);
  fail("exec");
  ::_exit(127);  // not reached: fail() exits
}

}  // namespace

StatusOr<UserIdentity> LookupUser(const std::string& name) {
  return FromPasswd(::getpwnam(name.c_str()), name);
}

StatusOr<UserIdentity> CurrentUser() {
  uid_t uid = ::geteuid();
  return FromPasswd(::getpwuid(uid), "uid " + std::to_string(uid));
}

std::string ProcessResult::Describe() const {
  if (signal != 0) {
    return "killed by signal " + std::to_string(signal) + " (" + ::strsignal(signal) + ")";
  }
  return "exited with " + std::to_string(exit_code);
}

std::string ShellQuoteCommand(const std::vector<std::string>& argv) {
  std::string out;
  for (const auto& arg : argv) {
    if (!out.empty()) out += ' ';
    bool plain = !arg.empty() && arg.find_first_not_of(
                                     "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ"
                                     "0123456789-_./=:,+@%") == std::string::npos;
    if (plain) {
      out += arg;
    } else {
      out += '\'';
      for (char c : arg) {
        if (c == '\'') {
          out += "'\\''";
        } else {
          out += c;
        }
      }
      out += '\'';
    }
  }
  return out;
}

StatusOr<ProcessResult> RunProcess(const ProcessSpec& spec) {
  if (spec.argv.empty()) return InvalidArgumentError("RunProcess: empty argv");
  std::vector<char*> argv;
  for (const auto& a : spec.argv) argv.push_back(const_cast<char*>(a.c_str()));
  argv.push_back(nullptr);
  std::vector<std::string> env_storage;
  if (spec.run_as) {
    // Another user gets a minimal environment: none of ours (database URLs, secrets) leaks to it.
    env_storage = {"PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin",
                   "HOME=" + spec.run_as->home, "USER=" + spec.run_as->name,
                   "LOGNAME=" + spec.run_as->name};
  } else {
    for (char** e = environ; *e != nullptr; ++e) env_storage.emplace_back(*e);
  }
  for (const auto& extra : spec.env) {
    auto eq = extra.find('=');
    std::string key = (eq == std::string::npos ? extra : extra.substr(0, eq)) + "=";
    // Later entries replace inherited ones with the same key; "KEY" alone removes it.
    for (auto& existing : env_storage) {
      if (existing.compare(0, key.size(), key) == 0) existing.clear();
    }
    if (eq != std::string::npos) env_storage.push_back(extra);
  }
  std::vector<char*> envp;
  for (auto& e : env_storage) {
    if (!e.empty()) envp.push_back(e.data());
  }
  envp.push_back(nullptr);
  // The target user's supplementary groups (what login and runuser give it).
  std::vector<gid_t> groups;
  if (spec.run_as) {
    int count = 64;
    groups.resize(count);
    if (::getgrouplist(spec.run_as->name.c_str(), spec.run_as->gid, groups.data(), &count) < 0) {
      groups.resize(count);
      ::getgrouplist(spec.run_as->name.c_str(), spec.run_as->gid, groups.data(), &count);
    }
    groups.resize(std::max(count, 0));
  }
  pid_t parent = ::getpid();

  // stdout and stderr share one pipe, unless stdout is read line by line (then stderr has its
  // own, collected into ProcessResult::output).
  const bool by_line = static_cast<bool>(spec.on_stdout_line);
  int output_pipe[2] = {-1, -1};
  int stderr_pipe[2] = {-1, -1};
  int error_pipe[2] = {-1, -1};
  auto close_all = [&] {
    for (int fd : {output_pipe[0], output_pipe[1], stderr_pipe[0], stderr_pipe[1], error_pipe[0],
                   error_pipe[1]}) {
      if (fd >= 0) ::close(fd);
    }
  };
  if (::pipe2(output_pipe, O_CLOEXEC) != 0 || (by_line && ::pipe2(stderr_pipe, O_CLOEXEC) != 0) ||
      ::pipe2(error_pipe, O_CLOEXEC) != 0) {
    int err = errno;
    close_all();
    return ErrnoToStatus(err, "pipe");
  }
  pid_t pid = ::fork();
  if (pid < 0) {
    int err = errno;
    close_all();
    return ErrnoToStatus(err, "fork");
  }
  if (pid == 0) {
    ChildExec(spec, argv.data(), envp.data(), groups, parent, output_pipe[1],
              by_line ? stderr_pipe[1] : output_pipe[1], error_pipe[1]);
  }
  ::close(output_pipe[1]);
  if (by_line) ::close(stderr_pipe[1]);
  ::close(error_pipe[1]);

  // Did exec succeed? The error pipe closes (EOF) on exec; a message arrives on failure.
  std::string exec_error;
  char buf[8192];
  while (true) {
    ssize_t n = ::read(error_pipe[0], buf, sizeof(buf));
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) break;
    exec_error.append(buf, static_cast<size_t>(n));
  }
  ::close(error_pipe[0]);

  ProcessResult result;
  auto deadline = std::chrono::steady_clock::now() + spec.timeout;
  bool timed_out = false;
  bool stopping = false;  // keep_going said no: SIGTERM sent, SIGKILL at stop_deadline
  auto stop_deadline = std::chrono::steady_clock::time_point::max();
  auto next_check = std::chrono::steady_clock::now();
  // The child's exit, not the pipes' EOF, ends the wait: a descendant that keeps a pipe open
  // (or a child that closes its pipes and runs on) must not hold us. Once reaped, what is left
  // of its process group is killed and the pipes get a moment to drain.
  bool reaped = false;
  int wstatus = 0;
  auto drain_until = std::chrono::steady_clock::time_point::max();
  std::string line;  // a stdout line still being received
  auto collect = [&](const char* data, size_t n) {
    size_t room = spec.max_output_bytes - std::min(spec.max_output_bytes, result.output.size());
    result.output.append(data, std::min(room, n));
  };
  if (exec_error.empty()) {
    // Open descriptors still to drain: stdout (+ stderr when separate).
    std::vector<int> open = {output_pipe[0]};
    if (by_line) open.push_back(stderr_pipe[0]);
    while (!open.empty() || !reaped) {
      if (!reaped) {
        pid_t r = ::waitpid(pid, &wstatus, WNOHANG);
        if (r == pid) {
          reaped = true;
          ::kill(-pid, SIGKILL);
          drain_until = std::chrono::steady_clock::now() + std::chrono::milliseconds(500);
        }
      }
      if (reaped && std::chrono::steady_clock::now() >= drain_until) break;
      auto left = std::chrono::duration_cast<std::chrono::milliseconds>(
                      deadline - std::chrono::steady_clock::now())
                      .count();
      if (left <= 0) {
        timed_out = true;
        ::kill(-pid, SIGKILL);
        ::kill(pid, SIGKILL);
        break;
      }
      auto now = std::chrono::steady_clock::now();
      if (stopping && now >= stop_deadline) {
        ::kill(-pid, SIGKILL);
        ::kill(pid, SIGKILL);
        stop_deadline = std::chrono::steady_clock::time_point::max();
      }
      if (spec.keep_going && !stopping && now >= next_check) {
        next_check = now + std::chrono::seconds(1);
        if (!spec.keep_going()) {
          stopping = true;
          stop_deadline = now + spec.stop_grace;
          ::kill(-pid, SIGTERM);
          ::kill(pid, SIGTERM);
        }
      }
      std::vector<struct pollfd> fds;
      for (int fd : open) fds.push_back(pollfd{fd, POLLIN, 0});
      long long wait_ms = std::min<long long>(left, 1000);
      if (spec.keep_going || !reaped) wait_ms = std::min<long long>(wait_ms, 100);
      int ready = ::poll(fds.empty() ? nullptr : fds.data(), fds.size(), static_cast<int>(wait_ms));
      if (ready < 0 && errno == EINTR) continue;
      if (ready <= 0) continue;
      for (const auto& pfd : fds) {
        if (pfd.revents == 0) continue;
        ssize_t n = ::read(pfd.fd, buf, sizeof(buf));
        if (n < 0 && errno == EINTR) continue;
        if (n <= 0) {
          // EOF: every writer (the child and anything it forked) closed it.
          open.erase(std::find(open.begin(), open.end(), pfd.fd));
          continue;
        }
        if (!by_line || pfd.fd != output_pipe[0]) {
          collect(buf, static_cast<size_t>(n));
          continue;
        }
        line.append(buf, static_cast<size_t>(n));
        size_t start = 0;
        for (size_t nl = line.find('\n'); nl != std::string::npos; nl = line.find('\n', start)) {
          spec.on_stdout_line(std::string_view(line.data() + start, nl - start));
          start = nl + 1;
        }
        line.erase(0, start);
        if (line.size() > spec.max_output_bytes) {
          // A runaway line: keep the start for the error message, drop the rest.
          collect(line.data(), line.size());
          line.clear();
        }
      }
    }
    if (by_line && !line.empty()) spec.on_stdout_line(line);
  }
  if (by_line) ::close(stderr_pipe[0]);
  ::close(output_pipe[0]);
  if (!reaped) {
    while (::waitpid(pid, &wstatus, 0) < 0 && errno == EINTR) {
    }
  }
  if (!exec_error.empty()) {
    auto colon = exec_error.find(':');
    int err = std::atoi(exec_error.c_str() + colon + 1);
    std::string step = exec_error.substr(0, colon);
    Status status = ErrnoToStatus(err, "cannot start " + spec.argv[0] + " (" + step + ")");
    return status;
  }
  if (stopping) {
    return CancelledError(ShellQuoteCommand(spec.argv) + " was stopped before it finished");
  }
  if (timed_out) {
    return DeadlineExceededError(ShellQuoteCommand(spec.argv) + " did not finish within " +
                                 std::to_string(spec.timeout.count()) + " ms and was killed");
  }
  result.network_isolated = spec.no_network;
  if (WIFSIGNALED(wstatus)) {
    result.signal = WTERMSIG(wstatus);
  } else {
    result.exit_code = WEXITSTATUS(wstatus);
  }
  return result;
}

std::string LocalHostName() {
  char name[256] = {};
  if (::gethostname(name, sizeof(name) - 1) != 0 || name[0] == '\0') return "localhost";
  return name;
}

}  // namespace tw
