// Which files in one folder were opened or read, by any process, seen through inotify: the
// security tests' proof that nothing outside a root was touched (a canary lives there).
#pragma once

#include <gtest/gtest.h>
#include <sys/inotify.h>
#include <unistd.h>

#include <set>
#include <string>

namespace tw::testing {

class OpenWatch {
 public:
  explicit OpenWatch(const std::string& folder) {
    fd_ = ::inotify_init1(IN_NONBLOCK | IN_CLOEXEC);
    EXPECT_GE(fd_, 0);
    EXPECT_GE(::inotify_add_watch(fd_, folder.c_str(), IN_OPEN | IN_ACCESS), 0) << folder;
  }
  ~OpenWatch() { ::close(fd_); }
  // Names of the files opened or read since the last call.
  std::set<std::string> Drain() {
    std::set<std::string> names;
    alignas(inotify_event) char buf[8192];
    while (true) {
      const ssize_t n = ::read(fd_, buf, sizeof(buf));
      if (n <= 0) break;
      for (ssize_t at = 0; at < n;) {
        const auto* event = reinterpret_cast<const inotify_event*>(buf + at);
        names.insert(event->len > 0 ? std::string(event->name) : std::string("(the folder)"));
        at += static_cast<ssize_t>(sizeof(inotify_event) + event->len);
      }
    }
    return names;
  }

 private:
  int fd_ = -1;
};

}  // namespace tw::testing
