// The CLI's job-queue and run commands: `jobs list|retry|cancel|wait`, `status`,
// `runs set-arch|clear-arch`. Like commands.h, each prints to ctx.out and returns a Status.
#pragma once

#include <chrono>
#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "cli/commands.h"
#include "common/status.h"
#include "store/job_queue.h"

namespace tw::cli {

struct ListJobsOptions {
  std::vector<std::string> states;  // job state names; empty: all
  std::optional<std::string> dataset;
  std::optional<int64_t> limit;  // default 100; 0 = all
};
Status ListJobsCommand(CommandContext& ctx, JobQueue& queue, const ListJobsOptions& options);

struct JobSelection {
  std::vector<int64_t> ids;
  bool all = false;  // retry: --dead; cancel: --pending
};
Status RetryJobsCommand(CommandContext& ctx, JobQueue& queue, const JobSelection& selection);
Status CancelJobsCommand(CommandContext& ctx, JobQueue& queue, const JobSelection& selection);

struct WaitJobsOptions {
  std::string timeout = "10m";
  std::chrono::milliseconds poll{500};
};
Status WaitJobsCommand(CommandContext& ctx, JobQueue& queue, const WaitJobsOptions& options);

// `jobs reevaluate`: after an evaluator upgrade, queue the recorded (done; with --dead also dead)
// jobs of other evaluator versions again for this one, under new keys; the old results stay.
// With --pending, jobs still pending for another version are re-keyed and the old ones
// cancelled (when no worker of that version is left to run them).
struct ReevaluateOptions {
  std::optional<std::string> dataset;
  bool include_dead = false;
  bool include_pending = false;
  int max_attempts = 3;
};
Status ReevaluateCommand(CommandContext& ctx, JobQueue& queue, const ReevaluateOptions& options);

Status StatusCommand(CommandContext& ctx, JobQueue& queue);

Status SetRunArchCommand(CommandContext& ctx, const std::string& run, const std::string& file);
Status ClearRunArchCommand(CommandContext& ctx, const std::string& run);

}  // namespace tw::cli
