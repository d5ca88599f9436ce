#include "watch/intake.h"

#include <dirent.h>
#include <fcntl.h>
#include <limits.h>
#include <sys/inotify.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <utility>

#include "common/file_util.h"
#include "common/glob.h"
#include "common/logging.h"
#include "common/utf8.h"
#include "watch/names.h"

namespace tw::watch {

namespace {

// Roots see run folders come and go; files directly in a root are not checkpoints.
constexpr uint32_t kRootMask =
    IN_CREATE | IN_MOVED_TO | IN_MOVED_FROM | IN_DELETE | IN_DELETE_SELF | IN_MOVE_SELF;
// IN_MODIFY is left out on purpose: a 1 GB save in 64 KiB writes is 16,000 events, enough to
// overflow the default queue (16,384) and force a rescan. IN_CLOSE_WRITE says the writer is done;
// a writer that keeps the file open is caught by the settle window, whose re-stats need no event.
constexpr uint32_t kRunMask = IN_CLOSE_WRITE | IN_MOVED_TO | IN_MOVED_FROM | IN_CREATE | IN_DELETE |
                              IN_DELETE_SELF | IN_MOVE_SELF | IN_ATTRIB;

int64_t MtimeNs(const struct stat& st) {
  return static_cast<int64_t>(st.st_mtim.tv_sec) * 1'000'000'000 + st.st_mtim.tv_nsec;
}

// Valid UTF-8 without C0, DEL or C1 controls: a name that can be shown and stored as it is.
bool IsPrintableName(std::string_view name) {
  if (FindInvalidUtf8(name) != std::string_view::npos) return false;
  for (size_t i = 0; i < name.size(); ++i) {
    const auto byte = static_cast<unsigned char>(name[i]);
    if (byte < 0x20 || byte == 0x7f) return false;
    if (byte == 0xc2 && i + 1 < name.size() && static_cast<unsigned char>(name[i + 1]) < 0xa0) {
      return false;
    }
  }
  return true;
}

bool UnderRoot(const std::string& target, const std::string& root_real) {
  if (root_real == "/") return true;
  return target.size() > root_real.size() + 1 &&
         target.compare(0, root_real.size(), root_real) == 0 && target[root_real.size()] == '/';
}

std::string Quoted(std::string_view name) { return "\"" + EscapeName(name) + "\""; }

struct DirEntry {
  std::string name;
  bool is_dir = false;
};

// The entries of `dir`; is_dir from lstat semantics (a symlink to a folder is not a folder).
StatusOr<std::vector<DirEntry>> ListDir(const std::string& dir) {
  DIR* handle = ::opendir(dir.c_str());
  if (handle == nullptr) return ErrnoToStatus(errno, "cannot list " + Quoted(dir));
  std::vector<DirEntry> entries;
  while (true) {
    errno = 0;
    struct dirent* entry = ::readdir(handle);
    if (entry == nullptr) break;
    std::string name = entry->d_name;
    if (name == "." || name == "..") continue;
    bool is_dir = entry->d_type == DT_DIR;
    if (entry->d_type == DT_UNKNOWN) {  // Some filesystems (NFS, XFS v4) do not fill d_type.
      struct stat st {};
      is_dir = ::fstatat(::dirfd(handle), entry->d_name, &st, AT_SYMLINK_NOFOLLOW) == 0 &&
               S_ISDIR(st.st_mode);
    }
    entries.push_back({std::move(name), is_dir});
  }
  const int err = errno;
  ::closedir(handle);
  if (err != 0) return ErrnoToStatus(err, "cannot list " + Quoted(dir));
  return entries;
}

// The path the kernel has for an open descriptor: what was actually opened, whatever symlinks
// were swapped in between a check and the open. Empty when /proc is not mounted.
std::string OpenedPath(int fd) {
  char buffer[PATH_MAX];
  const std::string link = "/proc/self/fd/" + std::to_string(fd);
  ssize_t n = ::readlink(link.c_str(), buffer, sizeof(buffer));
  if (n <= 0) return "";
  return std::string(buffer, static_cast<size_t>(n));
}

// Identifies the sidecar's current content cheaply, so that a refusal caused by it is retried
// once it changes.
std::string SidecarState(const std::string& checkpoint_path) {
  struct stat st {};
  if (::lstat(SidecarPathFor(checkpoint_path).c_str(), &st) != 0) return "absent";
  return std::to_string(st.st_ino) + ":" + std::to_string(st.st_size) + ":" +
         std::to_string(MtimeNs(st));
}

std::string RunKey(size_t root, const std::string& run) {
  return std::to_string(root) + std::string(1, '\0') + run;
}

}  // namespace

Intake::Intake(IntakeOptions options, Clock& clock)
    : options_(std::move(options)), clock_(&clock), tracker_(options_.settle) {}

Intake::~Intake() {
  if (inotify_fd_ >= 0) ::close(inotify_fd_);
}

StatusOr<std::unique_ptr<Intake>> Intake::Create(IntakeOptions options, Clock& clock) {
  if (options.roots.empty()) return InvalidArgumentError("intake: no watch roots");
  if (options.patterns.empty()) return InvalidArgumentError("intake: no file name patterns");
  for (const std::string& pattern : options.patterns) {
    TW_RETURN_IF_ERROR(ValidateGlob(pattern));
  }
  if (options.settle.count() < 0) {
    return InvalidArgumentError("intake: the settle time must not be negative");
  }
  std::vector<Root> roots;
  for (const std::string& configured : options.roots) {
    std::string absolute;
    try {
      absolute = std::filesystem::absolute(configured).lexically_normal().string();
    } catch (const std::filesystem::filesystem_error& e) {
      return InvalidArgumentError("watch root " + Quoted(configured) + ": " + e.what());
    }
    while (absolute.size() > 1 && absolute.back() == '/') absolute.pop_back();
    struct stat st {};
    if (::stat(absolute.c_str(), &st) != 0) {
      return ErrnoToStatus(errno, "watch root " + Quoted(absolute));
    }
    if (!S_ISDIR(st.st_mode)) {
      return InvalidArgumentError("watch root " + Quoted(absolute) + " is not a directory");
    }
    char* real = ::realpath(absolute.c_str(), nullptr);
    if (real == nullptr) return ErrnoToStatus(errno, "watch root " + Quoted(absolute));
    roots.push_back({absolute, real});
    std::free(real);
  }
  for (size_t i = 0; i < roots.size(); ++i) {
    for (size_t j = 0; j < roots.size(); ++j) {
      if (i != j && (roots[i].real == roots[j].real || UnderRoot(roots[i].real, roots[j].real))) {
        return InvalidArgumentError("watch root " + Quoted(roots[i].path) + " lies inside " +
                                    Quoted(roots[j].path) + ": each file must have one root");
      }
    }
  }

  std::unique_ptr<Intake> intake(new Intake(std::move(options), clock));
  intake->roots_ = std::move(roots);
  if (intake->options_.use_inotify) {
    intake->inotify_fd_ = ::inotify_init1(IN_CLOEXEC | IN_NONBLOCK);
    if (intake->inotify_fd_ < 0) {
      return UnavailableError(std::string("inotify_init1: ") + std::strerror(errno) +
                              " (fs.inotify.max_user_instances?); use rescans only");
    }
    for (size_t i = 0; i < intake->roots_.size(); ++i) {
      const std::string& path = intake->roots_[i].path;
      int wd = ::inotify_add_watch(intake->inotify_fd_, path.c_str(), kRootMask | IN_ONLYDIR);
      if (wd < 0) {
        return UnavailableError("cannot watch " + Quoted(path) + ": " + std::strerror(errno) +
                                " (fs.inotify.max_user_watches?)");
      }
      intake->watches_[wd] = WatchTarget{i, ""};
      StatusOr<std::vector<DirEntry>> entries = ListDir(path);
      if (!entries.ok()) return entries.status();
      for (const DirEntry& entry : *entries) {
        if (!entry.is_dir || IsTemporaryName(entry.name)) continue;
        if (!intake->ValidRunName(i, entry.name)) continue;
        intake->WatchRun(i, entry.name);
      }
    }
  }
  return intake;
}

IntakeStats Intake::stats() const {
  IntakeStats stats = stats_;
  stats.watched_dirs = watches_.size();
  return stats;
}

std::string Intake::PathOf(size_t root, const std::string& run, const std::string& name) const {
  const std::string& base = roots_[root].path;
  return (base == "/" ? "" : base) + "/" + run + "/" + name;
}

bool Intake::Matches(const std::string& name) const {
  if (IsTemporaryName(name)) return false;
  for (const std::string& pattern : options_.patterns) {
    if (GlobMatch(pattern, name)) return true;
  }
  return false;
}

bool Intake::ValidRunName(size_t root, const std::string& run) {
  if (IsPrintableName(run)) return true;
  const std::string path = PathOf(root, run, "");
  Refuse(path.substr(0, path.size() - 1), 0, 0,
         "run folder name is not valid UTF-8 or holds control characters: " + Quoted(run),
         pending_refused_);
  return false;
}

void Intake::WatchRun(size_t root, const std::string& run) {
  if (inotify_fd_ < 0) return;
  const std::string key = RunKey(root, run);
  if (run_watches_.count(key) != 0) return;
  const std::string path = PathOf(root, run, "");
  int wd = ::inotify_add_watch(inotify_fd_, path.c_str(), kRunMask | IN_ONLYDIR | IN_DONT_FOLLOW);
  if (wd < 0) {
    // ENOSPC (max_user_watches) or the folder is already gone: rescans still see its files.
    ++stats_.watch_failures;
    Logger("watch")->debug("cannot watch {}: {}", Quoted(path), std::strerror(errno));
    return;
  }
  watches_[wd] = WatchTarget{root, run};
  run_watches_[key] = wd;
}

void Intake::ScanRun(size_t root, const std::string& run) {
  StatusOr<std::vector<DirEntry>> entries = ListDir(PathOf(root, run, ""));
  if (!entries.ok()) {
    Logger("watch")->debug("{}", entries.status().ToString());
    return;
  }
  for (const DirEntry& entry : *entries) {
    if (entry.is_dir || !Matches(entry.name)) continue;
    AddCandidate(root, run, entry.name, /*arrived_by_rename=*/false);
  }
}

void Intake::ForgetRun(size_t root, const std::string& run) {
  const std::string prefix = PathOf(root, run, "");
  auto erase_prefixed = [&prefix](auto& map) {
    for (auto it = map.lower_bound(prefix);
         it != map.end() && it->first.compare(0, prefix.size(), prefix) == 0;) {
      it = map.erase(it);
    }
  };
  for (auto it = candidates_.lower_bound(prefix);
       it != candidates_.end() && it->first.compare(0, prefix.size(), prefix) == 0; ++it) {
    tracker_.Forget(it->first);
  }
  erase_prefixed(candidates_);
  erase_prefixed(sidecar_refused_);
  erase_prefixed(sidecar_to_checkpoint_);
  auto watch = run_watches_.find(RunKey(root, run));
  if (watch != run_watches_.end()) {
    // A folder moved away keeps its watch wherever it went; a deleted one's is gone already.
    ::inotify_rm_watch(inotify_fd_, watch->second);
    watches_.erase(watch->second);
    run_watches_.erase(watch);
  }
}

void Intake::AddCandidate(size_t root, const std::string& run, const std::string& name,
                          bool arrived_by_rename) {
  auto [it, inserted] = candidates_.try_emplace(PathOf(root, run, name));
  Candidate& candidate = it->second;
  if (inserted) {
    candidate.root = root;
    candidate.run = run;
    candidate.name = name;
  }
  candidate.arrived_by_rename = candidate.arrived_by_rename || arrived_by_rename;
  candidate.dirty = true;
}

void Intake::DrainEvents() {
  if (inotify_fd_ < 0) return;
  alignas(struct inotify_event) char buffer[64 * 1024];
  while (true) {
    ssize_t n = ::read(inotify_fd_, buffer, sizeof(buffer));
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) break;  // EAGAIN: drained.
    for (ssize_t offset = 0; offset < n;) {
      const auto* event = reinterpret_cast<const struct inotify_event*>(buffer + offset);
      offset += static_cast<ssize_t>(sizeof(struct inotify_event) + event->len);
      ++stats_.inotify_events;
      HandleEvent(event->wd, event->mask, event->len > 0 ? std::string(event->name) : "");
    }
  }
}

void Intake::HandleEvent(int wd, uint32_t mask, const std::string& name) {
  if (mask & IN_Q_OVERFLOW) {
    ++stats_.overflows;
    rescan_pending_ = true;
    Logger("watch")->debug("inotify queue overflow: rescanning");
    return;
  }
  auto found = watches_.find(wd);
  if (found == watches_.end()) return;
  const WatchTarget target = found->second;
  if (mask & IN_IGNORED) {
    watches_.erase(found);
    if (!target.run.empty()) run_watches_.erase(RunKey(target.root, target.run));
    return;
  }
  if (target.run.empty()) {
    if ((mask & IN_ISDIR) == 0 || name.empty()) return;  // Files in a root are not checkpoints.
    if (mask & (IN_DELETE | IN_MOVED_FROM)) {
      ForgetRun(target.root, name);
    } else if (mask & (IN_CREATE | IN_MOVED_TO)) {
      if (IsTemporaryName(name) || !ValidRunName(target.root, name)) return;
      // Watch first, then scan: a file written between the mkdir and the watch is found by the
      // scan, one written after it by an event (research F6).
      WatchRun(target.root, name);
      ScanRun(target.root, name);
    }
    return;
  }
  if (mask & (IN_DELETE_SELF | IN_MOVE_SELF)) {
    ForgetRun(target.root, target.run);
    return;
  }
  if ((mask & IN_ISDIR) || name.empty()) return;
  const std::string path = PathOf(target.root, target.run, name);
  auto sidecar_of = sidecar_to_checkpoint_.find(path);
  if (sidecar_of != sidecar_to_checkpoint_.end()) {
    // The sidecar that got its checkpoint refused changed: look at the checkpoint again.
    const std::string& checkpoint = sidecar_of->second;
    AddCandidate(target.root, target.run, checkpoint.substr(checkpoint.rfind('/') + 1), false);
  }
  if (!Matches(name)) return;
  if (mask & (IN_DELETE | IN_MOVED_FROM)) {
    // Gone before it settled: never reported.
    candidates_.erase(path);
    tracker_.Forget(path);
    return;
  }
  AddCandidate(target.root, target.run, name, (mask & IN_MOVED_TO) != 0);
}

void Intake::Rescan() {
  ++stats_.rescans;
  rescan_pending_ = false;
  for (size_t i = 0; i < roots_.size(); ++i) {
    StatusOr<std::vector<DirEntry>> entries = ListDir(roots_[i].path);
    if (!entries.ok()) {
      Logger("watch")->debug("{}", entries.status().ToString());
      continue;
    }
    for (const DirEntry& entry : *entries) {
      if (!entry.is_dir || IsTemporaryName(entry.name)) continue;
      if (!ValidRunName(i, entry.name)) continue;
      WatchRun(i, entry.name);
      ScanRun(i, entry.name);
    }
  }
}

void Intake::Refuse(const std::string& path, uint64_t size, int64_t mtime_ns, std::string reason,
                    std::vector<RefusedFile>& out) {
  if (reported_.emplace(path, size, mtime_ns).second) {
    out.push_back(RefusedFile{path, std::move(reason)});
  }
}

IntakeBatch Intake::Poll() {
  if (rescan_pending_) Rescan();
  IntakeBatch batch;
  batch.refused = std::move(pending_refused_);
  pending_refused_.clear();
  const SteadyTime now = clock_->Now();
  for (auto it = candidates_.begin(); it != candidates_.end();) {
    if (Process(it->first, it->second, now, batch) == Outcome::kDrop) {
      tracker_.Forget(it->first);
      it = candidates_.erase(it);
    } else {
      ++it;
    }
  }
  stats_.ready += batch.ready.size();
  stats_.refused += batch.refused.size();
  return batch;
}

Intake::Outcome Intake::Process(const std::string& path, Candidate& candidate, SteadyTime now,
                                IntakeBatch& batch) {
  candidate.dirty = false;
  const Root& root = roots_[candidate.root];
  struct stat st {};
  if (::lstat(path.c_str(), &st) != 0) {
    const int err = errno;
    if (err != ENOENT && err != ENOTDIR) {
      Refuse(path, 0, 0, std::string("cannot stat: ") + std::strerror(err), batch.refused);
    }
    return Outcome::kDrop;
  }
  if (S_ISDIR(st.st_mode)) return Outcome::kDrop;
  if (!IsPrintableName(candidate.name)) {
    Refuse(path, static_cast<uint64_t>(st.st_size), MtimeNs(st),
           "file name is not valid UTF-8 or holds control characters: " + Quoted(candidate.name),
           batch.refused);
    return Outcome::kDrop;
  }
  std::string open_path = path;
  if (S_ISLNK(st.st_mode)) {
    char* real = ::realpath(path.c_str(), nullptr);
    if (real == nullptr) return Outcome::kDrop;  // Dangling: nothing to take; rescans retry.
    std::string target = real;
    std::free(real);
    if (!UnderRoot(target, root.real)) {
      Refuse(path, static_cast<uint64_t>(st.st_size), MtimeNs(st),
             "symlink to a file outside the watch root: " + Quoted(target), batch.refused);
      return Outcome::kDrop;
    }
    if (::stat(target.c_str(), &st) != 0) return Outcome::kDrop;
    open_path = target;
  }
  const auto size = static_cast<uint64_t>(st.st_size);
  const int64_t mtime_ns = MtimeNs(st);
  if (!S_ISREG(st.st_mode)) {
    Refuse(path, size, mtime_ns, "not a regular file", batch.refused);
    return Outcome::kDrop;
  }
  if (reported_.count({path, size, mtime_ns}) != 0) return Outcome::kDrop;
  auto sidecar_refusal = sidecar_refused_.find(path);
  if (sidecar_refusal != sidecar_refused_.end() && sidecar_refusal->second.size == size &&
      sidecar_refusal->second.mtime_ns == mtime_ns &&
      sidecar_refusal->second.sidecar_state == SidecarState(path)) {
    return Outcome::kDrop;  // Reported; waits for the sidecar (or the file) to change.
  }

  tracker_.Observe(path, size, mtime_ns, now, candidate.arrived_by_rename);
  candidate.arrived_by_rename = false;  // The tracker keeps it while the file is unchanged.
  if (!tracker_.IsSettled(path, now)) return Outcome::kKeep;
  const SteadyTime since = *tracker_.StableSince(path);
  if (candidate.inspected_since == since && candidate.retry_at && now < *candidate.retry_at) {
    return Outcome::kKeep;  // Incomplete when last opened and unchanged since.
  }

  int fd = ::open(open_path.c_str(), O_RDONLY | O_CLOEXEC | O_NOFOLLOW | O_NONBLOCK);
  if (fd < 0) {
    const int err = errno;
    if (err == ENOENT || err == ENOTDIR) return Outcome::kDrop;
    if (err == ELOOP) return Outcome::kKeep;  // Became a symlink since the lstat: look again.
    Refuse(path, size, mtime_ns, std::string("cannot open: ") + std::strerror(err), batch.refused);
    return Outcome::kDrop;
  }
  // Whatever was swapped in between the checks and the open, what was opened must lie under the
  // root (research F7).
  const std::string opened = OpenedPath(fd);
  if (!opened.empty() && opened.front() == '/' && !UnderRoot(opened, root.real)) {
    ::close(fd);
    Refuse(path, size, mtime_ns, "resolves to a file outside the watch root: " + Quoted(opened),
           batch.refused);
    return Outcome::kDrop;
  }
  StatusOr<TorchFileCheck> inspected = InspectTorchFd(fd, path);
  ::close(fd);
  if (!inspected.ok()) {
    if (inspected.status().code() == StatusCode::kNotFound) return Outcome::kDrop;
    Refuse(path, size, mtime_ns, inspected.status().message(), batch.refused);
    return Outcome::kDrop;
  }
  TorchFileCheck check = *std::move(inspected);
  if (check.size != size || check.mtime_ns != mtime_ns) {
    // Changed between the stat and the open: the verdict is for other bytes.
    tracker_.Observe(path, check.size, check.mtime_ns, now, false);
    return Outcome::kKeep;
  }

  switch (check.kind) {
    case TorchFileKind::kEmpty:
    case TorchFileKind::kIncompleteZip: {
      const auto give_up = options_.settle * kIncompleteSettleFactor;
      if (now - since >= give_up) {
        std::string reason = check.kind == TorchFileKind::kEmpty
                                 ? "empty file (0 bytes)"
                                 : "incomplete zip: " + check.reason;
        Refuse(path, size, mtime_ns,
               reason + ", unchanged for " + std::to_string(give_up.count()) + " ms",
               batch.refused);
        return Outcome::kDrop;
      }
      candidate.inspected_since = since;
      candidate.retry_at = since + give_up;
      return Outcome::kKeep;
    }
    case TorchFileKind::kNotTorch:
      Refuse(path, size, mtime_ns, check.reason, batch.refused);
      return Outcome::kDrop;
    case TorchFileKind::kTorchScript:
    case TorchFileKind::kStateDictZip:
    case TorchFileKind::kLegacyPickle:
      break;
  }

  ReadyFile ready;
  ready.is_arch = candidate.name == kArchFileName;
  if (ready.is_arch && check.kind != TorchFileKind::kTorchScript) {
    Refuse(path, size, mtime_ns,
           std::string(kArchFileName) + " must be a TorchScript archive (torch.jit.save), found " +
               std::string(TorchFileKindName(check.kind)),
           batch.refused);
    return Outcome::kDrop;
  }
  if (!ready.is_arch) {
    // The state is taken before the read: a sidecar rewritten during the read differs from it
    // and gets the checkpoint looked at again.
    std::string sidecar_state = SidecarState(path);
    StatusOr<std::optional<Sidecar>> sidecar = ReadSidecarFor(path);
    if (!sidecar.ok()) {
      sidecar_refused_[path] = SidecarRefusal{size, mtime_ns, std::move(sidecar_state)};
      sidecar_to_checkpoint_[SidecarPathFor(path)] = path;
      batch.refused.push_back(RefusedFile{path, "invalid sidecar: " + sidecar.status().message()});
      return Outcome::kDrop;
    }
    ready.sidecar = *std::move(sidecar);
  }
  sidecar_refused_.erase(path);
  sidecar_to_checkpoint_.erase(SidecarPathFor(path));
  reported_.emplace(path, size, mtime_ns);
  ready.root = root.path;
  ready.run = candidate.run;
  ready.file_name = candidate.name;
  ready.path = path;
  ready.size = size;
  ready.mtime_ns = mtime_ns;
  ready.arrived_by_rename = tracker_.ArrivedByRename(path);
  ready.check = std::move(check);
  batch.ready.push_back(std::move(ready));
  return Outcome::kDrop;
}

std::optional<SteadyTime> Intake::NextDeadline() const {
  if (rescan_pending_ || !pending_refused_.empty()) return clock_->Now();
  std::optional<SteadyTime> earliest;
  for (const auto& [path, candidate] : candidates_) {
    std::optional<SteadyTime> since = tracker_.StableSince(path);
    SteadyTime deadline;
    if (candidate.dirty || !since) {
      return clock_->Now();
    } else if (candidate.inspected_since == since && candidate.retry_at) {
      deadline = *candidate.retry_at;
    } else {
      deadline = *since + options_.settle;
    }
    if (!earliest || deadline < *earliest) earliest = deadline;
  }
  return earliest;
}

}  // namespace tw::watch
