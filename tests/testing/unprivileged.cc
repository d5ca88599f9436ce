#include "tests/testing/unprivileged.h"

#include <grp.h>
#include <pwd.h>
#include <sys/wait.h>
#include <unistd.h>

#include <string>

namespace tw::testing {

Status RunUnprivileged(const std::function<Status()>& fn) {
  if (::geteuid() != 0) return fn();
  struct passwd* nobody = ::getpwnam("nobody");
  if (nobody == nullptr) return InternalError("no user 'nobody' to drop privileges to");
  int pipe_fds[2];
  if (::pipe(pipe_fds) != 0) return InternalError("pipe failed");
  pid_t pid = ::fork();
  if (pid < 0) return InternalError("fork failed");
  if (pid == 0) {
    ::close(pipe_fds[0]);
    if (::setgroups(0, nullptr) != 0 || ::setgid(nobody->pw_gid) != 0 ||
        ::setuid(nobody->pw_uid) != 0) {
      ::_exit(2);
    }
    Status status = fn();
    std::string message = std::to_string(static_cast<int>(status.code())) + ":" + status.message();
    ssize_t written = ::write(pipe_fds[1], message.data(), message.size());
    ::_exit(written == static_cast<ssize_t>(message.size()) ? 0 : 3);
  }
  ::close(pipe_fds[1]);
  std::string reply;
  char buf[4096];
  ssize_t n;
  while ((n = ::read(pipe_fds[0], buf, sizeof(buf))) > 0) reply.append(buf, static_cast<size_t>(n));
  ::close(pipe_fds[0]);
  int wstatus = 0;
  ::waitpid(pid, &wstatus, 0);
  if (!WIFEXITED(wstatus) || WEXITSTATUS(wstatus) != 0) {
    return InternalError("the unprivileged child failed (wait status " + std::to_string(wstatus) +
                         ")");
  }
  auto colon = reply.find(':');
  auto code = static_cast<StatusCode>(std::stoi(reply.substr(0, colon)));
  return Status(code, reply.substr(colon + 1));
}

}  // namespace tw::testing
