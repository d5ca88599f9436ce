// What a checkpoint is evaluated with on a dataset: the dataset's current version, its default
// config with the caller's changes, normalised for the dataset's protocol and hashed; and the
// evaluation key that names the result. The CLI's `eval` and the daemon's planner share it, so
// the same checkpoint, dataset and settings give the same key whoever asks.
#pragma once

#include <functional>
#include <optional>
#include <string>

#include "common/canonical_json.h"
#include "common/status.h"
#include "protocol/eval_config.h"
#include "store/job_queue.h"
#include "store/model.h"
#include "store/store.h"

namespace tw::runner {

// Changes applied on top of a dataset's default config (command-line flags, the daemon's
// per-dataset config). May refuse with InvalidArgument.
using ConfigCustomizer = std::function<Status(EvalConfig* config)>;

struct PlannedDataset {
  std::string dataset;
  bool suite = false;  // a corruption suite: scored per corruption and severity, no resize/crop
  std::optional<std::string> reference;
  DatasetVersionInfo version;
  EvalConfig config;
  HashedJson config_hash;

  ImportedEvalConfig StoredConfig() const {
    return ImportedEvalConfig{config_hash.sha256, config_hash.hash_version, config_hash.canonical};
  }
};

// Reads the dataset's current version from the store and settles its config. NotFound for a
// dataset that is not registered (or has no files); InvalidArgument for a bad config.
StatusOr<PlannedDataset> PlanDataset(Store& store, const std::string& dataset,
                                     const ConfigCustomizer& customize);

// The planned dataset's config from a JSON object of overrides (the daemon's per-dataset
// `eval` table, already JSON), for ConfigCustomizer.
ConfigCustomizer OverridesFromJson(std::string overrides_json);

StatusOr<std::string> EvaluationKeyFor(const PlannedDataset& planned,
                                       const std::string& checkpoint_sha256,
                                       const std::optional<std::string>& arch_sha256,
                                       const std::string& evaluator_version);

// Evaluator upgrades. A job's key includes the evaluator version it was planned for, and
// workers claim only their own version's jobs, so after an upgrade:
//  - jobs still pending for another version are re-keyed (the daemon does this by itself: they
//    never ran, nothing is re-evaluated);
//  - recorded results stay as they are until an operator asks for a re-evaluation
//    (`transferwatch jobs reevaluate`), which re-keys done (and dead) jobs the same way.
// Each selected job of another version gets a job for `evaluator_version` with the same
// checkpoint, dataset version, config, architecture and priority; with `cancel_replaced`, the
// old pending ones are cancelled.
struct RekeyResult {
  int queued = 0;
  int already_queued = 0;
  int already_recorded = 0;
  int cancelled = 0;
};
StatusOr<RekeyResult> RekeyJobs(JobQueue& queue, const std::vector<JobState>& states,
                                const std::optional<std::string>& dataset,
                                const std::string& evaluator_version, int max_attempts,
                                bool cancel_replaced);

}  // namespace tw::runner
