// Running transferwatch-eval for one checkpoint over several datasets: the job folder, the
// sandbox (as an unprivileged user when we are root, without network where the OS allows,
// core dumps off, descriptor and memory limits, none of our environment), the event stream, and
// each dataset's result checked (its records file against the digest, one record per image)
// and turned into an EvaluationRecord for the caller to store.
//
// The CLI stores each record (or compares it, for --force); the daemon completes the job under
// its lease. Either way the evaluator never touches the database.
#pragma once

#include <chrono>
#include <functional>
#include <map>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "common/process.h"
#include "common/status.h"
#include "protocol/evaluator_protocol.h"
#include "runner/plan.h"
#include "store/model.h"

namespace tw::runner {

struct EvaluatorTarget {
  PlannedDataset planned;
  std::string evaluation_key;
  std::string manifest;  // the manifest's canonical text (Store::GetManifest)
};

struct EvaluatorRun {
  std::string evaluator;  // transferwatch-eval's path
  std::string work_dir;   // a private job folder is made inside, removed afterwards
  int64_t checkpoint_id = 0;
  std::string checkpoint_path;  // absolute
  std::string checkpoint_sha256;
  std::optional<std::string> arch_path;
  std::optional<std::string> arch_sha256;
  int threads = 0;
  int decode_threads = 1;
  bool skip_bad_images = false;
  std::optional<std::string> normaliser_path;  // AlexNet errors, for corruption suites
  std::vector<EvaluatorTarget> targets;
  std::chrono::milliseconds timeout{std::chrono::hours(72)};
  // Limits beyond the defaults (core 0, 4096 descriptors): RLIMIT_DATA for memory. RLIMIT_AS is
  // not used: LibTorch maps far more address space than it touches.
  std::vector<std::pair<int, uint64_t>> extra_limits;
  // Asked about once a second; false stops the evaluator (SIGTERM, then SIGKILL).
  std::function<bool()> keep_going;
  std::function<void(const protocol::Progress&)> on_progress;
  // Each dataset's checked result, in the order they arrive; the returned status is kept as
  // that dataset's outcome.
  std::function<Status(const EvaluatorTarget&, EvaluationRecord)> on_record;
  // A corruption suite's clean top-1 (for the relative mCE), by its reference's name: this run's
  // result when it had one, else the caller's lookup.
  std::function<std::optional<double>(const std::string& reference)> clean_top1;
};

struct EvaluatorOutcome {
  // Per dataset: OK when its record was handed over and on_record accepted it; otherwise why.
  std::map<std::string, Status> datasets;
  // Errors not tied to a dataset (a crash, unreadable output), with the evaluator's stderr tail.
  std::vector<std::string> errors;
  ProcessResult process;
  bool ran_as_other_user = false;
  // The status for the whole run: OK when every dataset is OK.
  Status Overall() const;
};

// Runs the evaluator to the end. Errors are failing to prepare or start it, and a stop asked by
// keep_going (Cancelled); everything the evaluator reports, including a crash, is in the outcome.
StatusOr<EvaluatorOutcome> RunEvaluator(const EvaluatorRun& run);

// Removes the job folders in `work_dir` whose process is gone (a daemon or CLI killed mid-run:
// SIGKILL, power loss); folders of live processes are left alone. Returns how many.
int SweepStaleJobFolders(const std::string& work_dir);

// The user the evaluator runs as when we are root ("transferwatch", else "nobody"); nullopt when
// we are not root. FailedPrecondition when root has neither.
StatusOr<std::optional<UserIdentity>> EvaluatorUser();

}  // namespace tw::runner
