// Checkpoint intake for transferwatchd: which files under the watch roots are complete
// checkpoints, found without loading them.
//
// Layout: <root>/<run>/<file>. Each first-level folder of a root is a run, named by the folder;
// files directly in a root and anything deeper than a run folder are not checkpoints. A file is
// taken when its name matches one of the patterns and is not a temporary name (IsTemporaryName),
// its size and mtime have been stable for the settle window (or it arrived by rename), and it is
// a torch file whose zip central directory is complete (InspectTorchFd). The sidecar
// <stem>.json beside it, when present, must be valid (sidecar.h). docs/watching.md says all of
// this for users.
//
// inotify is an optimisation and a rescan is the truth (research F3-F6): events are dropped on
// overflow, watches are not recursive, and network filesystems deliver no remote events. Events
// only make files candidates sooner; Rescan() finds everything again, and reporting is keyed on
// (path, size, mtime) so repeated scans report nothing twice.
//
// How the daemon drives it:
//   auto intake = Intake::Create(options, clock);   // watches set up, nothing scanned yet
//   intake->Rescan();                               // startup reconciliation
//   loop: wait until inotify_fd() is readable, NextDeadline() passes, or the rescan timer fires;
//         DrainEvents() / Rescan() as fits; then Poll() and act on the batch.
//
// Thread safety: not thread-safe. One daemon thread owns the Intake and calls all methods.
#pragma once

#include <chrono>
#include <cstdint>
#include <map>
#include <memory>
#include <optional>
#include <set>
#include <string>
#include <tuple>
#include <unordered_map>
#include <vector>

#include "common/clock.h"
#include "common/status.h"
#include "watch/settle.h"
#include "watch/sidecar.h"
#include "watch/torch_file.h"

namespace tw::watch {

struct IntakeOptions {
  std::vector<std::string> roots;                      // Existing directories; made absolute.
  std::vector<std::string> patterns{"*.pt", "*.pth"};  // Globs on the file name (common/glob.h).
  std::chrono::milliseconds settle{2000};
  bool use_inotify = true;  // false: rescans only (network filesystems).
};

// The name of the file in a run folder that holds the run's architecture (a TorchScript
// archive) for its state-dict checkpoints.
inline constexpr std::string_view kArchFileName = "arch.pt";

// A zip still incomplete (or an empty file) after this many settle windows without a change is
// refused: the writer is gone.
inline constexpr int kIncompleteSettleFactor = 10;

struct ReadyFile {
  std::string root;       // The watch root (absolute).
  std::string run;        // First-level folder name under the root: the run's name.
  std::string file_name;  // Name inside the run folder.
  std::string path;       // Absolute path: root/run/file_name.
  uint64_t size = 0;
  int64_t mtime_ns = 0;
  TorchFileCheck check;  // kind is kTorchScript, kStateDictZip or kLegacyPickle.
  std::optional<Sidecar> sidecar;
  bool is_arch = false;  // The run's arch.pt (architecture for state dicts), not a checkpoint.
  bool arrived_by_rename = false;
};

// Reported once per (path, size, mtime). A refusal caused by the sidecar is reported again when
// the sidecar changes, and the file may then be reported ready.
struct RefusedFile {
  std::string path;    // As found; may hold any bytes: print it with EscapeName.
  std::string reason;  // Names in it are already escaped.
};

struct IntakeBatch {
  std::vector<ReadyFile> ready;
  std::vector<RefusedFile> refused;
};

struct IntakeStats {
  uint64_t inotify_events = 0, overflows = 0, rescans = 0, watched_dirs = 0, ready = 0, refused = 0;
  // inotify_add_watch failures (ENOSPC: fs.inotify.max_user_watches); those folders are seen by
  // rescans only.
  uint64_t watch_failures = 0;
};

class Intake {
 public:
  // Validates the roots (must exist and be directories) and the patterns, and sets up inotify
  // (IN_CLOEXEC | IN_NONBLOCK) on each root and each run folder. Does not scan: call Rescan().
  // `clock` must outlive the Intake. InvalidArgument for bad options, NotFound for a missing
  // root, Unavailable when inotify cannot be initialised.
  static StatusOr<std::unique_ptr<Intake>> Create(IntakeOptions options, Clock& clock);
  ~Intake();
  Intake(const Intake&) = delete;
  Intake& operator=(const Intake&) = delete;

  // -1 when use_inotify is false. Readable when events are pending: then call DrainEvents().
  int inotify_fd() const { return inotify_fd_; }

  // Reads all pending events without blocking. Files become candidates; IN_Q_OVERFLOW makes the
  // next Poll() rescan; a new run folder is watched and scanned (files written into it before
  // its watch existed are found); a removed run folder's files are forgotten.
  void DrainEvents();

  // Walks every root: each run folder (watched if it is not yet) and each file directly in it.
  // Every matching file becomes a candidate; files already reported are skipped cheaply in
  // Poll().
  void Rescan();

  // Settles and inspects the candidates; see the file comment and docs/watching.md.
  IntakeBatch Poll();

  // When Poll() should run next: now when work is waiting, else the earliest settle deadline;
  // nullopt when nothing is pending.
  std::optional<SteadyTime> NextDeadline() const;

  IntakeStats stats() const;

 private:
  struct Root {
    std::string path;  // Absolute, as configured.
    std::string real;  // realpath(): symlink targets must lie under it.
  };
  struct WatchTarget {
    size_t root = 0;
    std::string run;  // Empty for the root itself.
  };
  struct Candidate {
    size_t root = 0;
    std::string run;
    std::string name;
    bool arrived_by_rename = false;
    bool dirty = true;  // Marked by an event or a scan since the last Poll(): look now.
    // An incomplete zip or empty file: the window start it was inspected in, and when to give
    // up on it. Until then it is not opened again unless it changes.
    std::optional<SteadyTime> inspected_since;
    std::optional<SteadyTime> retry_at;
  };
  struct SidecarRefusal {
    uint64_t size = 0;
    int64_t mtime_ns = 0;
    std::string sidecar_state;
  };
  enum class Outcome { kKeep, kDrop };

  Intake(IntakeOptions options, Clock& clock);

  bool Matches(const std::string& name) const;
  bool ValidRunName(size_t root, const std::string& run);
  void WatchRun(size_t root, const std::string& run);
  void ScanRun(size_t root, const std::string& run);
  void ForgetRun(size_t root, const std::string& run);
  void AddCandidate(size_t root, const std::string& run, const std::string& name,
                    bool arrived_by_rename);
  void HandleEvent(int wd, uint32_t mask, const std::string& name);
  Outcome Process(const std::string& path, Candidate& candidate, SteadyTime now,
                  IntakeBatch& batch);
  // Reports a refusal unless (path, size, mtime) was reported already.
  void Refuse(const std::string& path, uint64_t size, int64_t mtime_ns, std::string reason,
              std::vector<RefusedFile>& out);
  std::string PathOf(size_t root, const std::string& run, const std::string& name) const;

  IntakeOptions options_;
  Clock* clock_;
  std::vector<Root> roots_;
  int inotify_fd_ = -1;
  std::unordered_map<int, WatchTarget> watches_;
  std::map<std::string, int> run_watches_;  // root index + '\0' + run -> wd.
  std::map<std::string, Candidate> candidates_;
  SettleTracker tracker_;
  std::set<std::tuple<std::string, uint64_t, int64_t>> reported_;
  std::map<std::string, SidecarRefusal> sidecar_refused_;     // Checkpoint path -> state.
  std::map<std::string, std::string> sidecar_to_checkpoint_;  // Sidecar path -> checkpoint.
  std::vector<RefusedFile> pending_refused_;  // Found outside Poll(), handed out by it.
  bool rescan_pending_ = false;
  IntakeStats stats_;
};

}  // namespace tw::watch
