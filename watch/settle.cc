#include "watch/settle.h"

namespace tw::watch {

void SettleTracker::Observe(const std::string& path, uint64_t size, int64_t mtime_ns,
                            SteadyTime now, bool arrived_by_rename) {
  auto [it, inserted] = entries_.try_emplace(path);
  Entry& entry = it->second;
  if (inserted || entry.size != size || entry.mtime_ns != mtime_ns) {
    entry = Entry{size, mtime_ns, now, arrived_by_rename};
    return;
  }
  entry.arrived_by_rename = entry.arrived_by_rename || arrived_by_rename;
}

bool SettleTracker::IsSettled(const std::string& path, SteadyTime now) const {
  auto it = entries_.find(path);
  if (it == entries_.end()) return false;
  return it->second.arrived_by_rename || now - it->second.since >= settle_;
}

std::optional<SteadyTime> SettleTracker::StableSince(const std::string& path) const {
  auto it = entries_.find(path);
  if (it == entries_.end()) return std::nullopt;
  return it->second.since;
}

bool SettleTracker::ArrivedByRename(const std::string& path) const {
  auto it = entries_.find(path);
  return it != entries_.end() && it->second.arrived_by_rename;
}

void SettleTracker::Forget(const std::string& path) { entries_.erase(path); }

std::optional<SteadyTime> SettleTracker::NextDeadline() const {
  std::optional<SteadyTime> earliest;
  for (const auto& [path, entry] : entries_) {
    if (entry.arrived_by_rename) continue;
    const SteadyTime deadline = entry.since + settle_;
    if (!earliest || deadline < *earliest) earliest = deadline;
  }
  return earliest;
}

}  // namespace tw::watch
