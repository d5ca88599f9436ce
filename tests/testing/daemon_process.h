// A real transferwatchd child process for end-to-end tests: started in the background with its
// log in a file, signalled, waited for, killed on destruction.
#pragma once

#include <sys/types.h>

#include <chrono>
#include <functional>
#include <optional>
#include <string>
#include <vector>

namespace tw::testing {

class DaemonProcess {
 public:
  // Starts `program args...`; stdout and stderr go to `log_path`.
  DaemonProcess(const std::string& program, const std::vector<std::string>& args,
                std::string log_path);
  ~DaemonProcess();  // SIGKILL if still running
  DaemonProcess(const DaemonProcess&) = delete;
  DaemonProcess& operator=(const DaemonProcess&) = delete;

  pid_t pid() const { return pid_; }
  bool running();
  void Signal(int signal);
  // The exit code (or 128 + signal) once it ended within `timeout`; nullopt otherwise.
  std::optional<int> Wait(std::chrono::milliseconds timeout);
  std::string Log() const;

 private:
  pid_t pid_ = -1;
  std::optional<int> status_;
  std::string log_path_;
};

// Polls `condition` every 50 ms until it holds or `timeout` passes; returns whether it held.
bool WaitFor(const std::function<bool()>& condition, std::chrono::milliseconds timeout);

}  // namespace tw::testing
