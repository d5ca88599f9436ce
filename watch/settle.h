// When a file has stopped changing. A writer that copies or saves a checkpoint in place changes
// its size and mtime until it is done; a file whose size and mtime stayed the same for the
// settle window is taken to be finished. A file that arrived by rename(2) was finished by its
// writer before the rename (the tmp -> fsync -> rename convention), so it counts as settled at
// once; the caller still requires a complete zip, which catches a writer that renamed too early.
//
// Pure logic: time comes in as arguments, nothing is read from the filesystem or a clock.
// Thread safety: not thread-safe; one owner drives it.
#pragma once

#include <chrono>
#include <cstdint>
#include <optional>
#include <string>
#include <unordered_map>

#include "common/clock.h"

namespace tw::watch {

class SettleTracker {
 public:
  explicit SettleTracker(std::chrono::milliseconds settle) : settle_(settle) {}

  // Records what a stat of `path` showed at `now`. A size or mtime different from the last
  // observation restarts the window (and the rename flag takes the new call's value); the same
  // size and mtime keep the window, and a rename seen once stays seen.
  void Observe(const std::string& path, uint64_t size, int64_t mtime_ns, SteadyTime now,
               bool arrived_by_rename);

  // True when `path` arrived by rename, or its size and mtime have been unchanged for the
  // settle window. False for a path never observed.
  bool IsSettled(const std::string& path, SteadyTime now) const;

  // Since when the current size and mtime of `path` have been observed; nullopt when unknown.
  std::optional<SteadyTime> StableSince(const std::string& path) const;

  // Whether the current observation of `path` came with a rename (false when unknown).
  bool ArrivedByRename(const std::string& path) const;

  void Forget(const std::string& path);

  // The earliest time a path that is not settled by rename will have been stable for the
  // window (it may lie in the past); nullopt when there is none.
  std::optional<SteadyTime> NextDeadline() const;

  size_t size() const { return entries_.size(); }
  std::chrono::milliseconds settle() const { return settle_; }

 private:
  struct Entry {
    uint64_t size = 0;
    int64_t mtime_ns = 0;
    SteadyTime since;
    bool arrived_by_rename = false;
  };
  std::chrono::milliseconds settle_;
  std::unordered_map<std::string, Entry> entries_;
};

}  // namespace tw::watch
