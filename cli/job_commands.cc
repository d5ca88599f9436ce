#include "cli/job_commands.h"

#include <sys/stat.h>

#include <algorithm>
#include <cerrno>
#include <climits>
#include <cstdlib>
#include <cstring>
#include <nlohmann/json.hpp>
#include <thread>

#include "common/csv.h"
#include "common/sha256.h"
#include "common/time_util.h"
#include "common/utf8.h"
#include "common/version.h"
#include "runner/plan.h"

namespace tw::cli {
namespace {

using Json = nlohmann::json;

constexpr size_t kTableErrorChars = 60;

std::string CountsText(const JobCounts& c) {
  return std::to_string(c.pending) + " pending, " + std::to_string(c.running) + " running, " +
         std::to_string(c.done) + " done, " + std::to_string(c.dead) + " dead, " +
         std::to_string(c.cancelled) + " cancelled";
}

nlohmann::ordered_json CountsJson(const JobCounts& c) {
  nlohmann::ordered_json j;
  j["pending"] = c.pending;
  j["running"] = c.running;
  j["done"] = c.done;
  j["dead"] = c.dead;
  j["cancelled"] = c.cancelled;
  return j;
}

// Runs `op` over the selection: once per id (each with `base`'s states), or once for all.
template <typename Op>
StatusOr<int> ForSelection(const JobSelection& selection, JobFilter base, Op op) {
  base.limit = INT64_MAX;
  if (selection.ids.empty()) return op(base);
  int total = 0;
  for (int64_t id : selection.ids) {
    JobFilter filter = base;
    filter.job_id = id;
    TW_ASSIGN_OR_RETURN(int n, op(filter));
    total += n;
  }
  return total;
}

void PrintChanged(CommandContext& ctx, int n, const std::string& what) {
  if (ctx.format == OutputFormat::kTable) {
    ctx.out << n << " job(s) " << what << "\n";
    return;
  }
  nlohmann::ordered_json j;
  j["jobs"] = n;
  j["outcome"] = what;
  PrintObject(j, ctx.format, ctx.out);
}

}  // namespace

Status ListJobsCommand(CommandContext& ctx, JobQueue& queue, const ListJobsOptions& options) {
  JobFilter filter;
  for (const auto& name : options.states) {
    TW_ASSIGN_OR_RETURN(JobState state, ParseJobState(name));
    filter.states.push_back(state);
  }
  filter.dataset = options.dataset;
  if (options.limit) {
    if (*options.limit < 0) return InvalidArgumentError("--limit must be 0 or more");
    filter.limit = *options.limit == 0 ? INT64_MAX : *options.limit;
  }
  TW_ASSIGN_OR_RETURN(std::vector<JobInfo> jobs, queue.ListJobs(filter));
  bool table = ctx.format == OutputFormat::kTable;
  Listing listing;
  listing.list_name = "jobs";
  listing.columns = {{"id", "id"},
                     {"checkpoint", "checkpoint"},
                     {"dataset", "dataset"},
                     {"state", "state"},
                     {"attempt", "attempt"},
                     {"priority", "priority"},
                     {"leased_by", "leased by"},
                     {"last_error", "last error"}};
  for (const auto& j : jobs) {
    Json error = OrNull(j.last_error);
    if (table && j.last_error) error = TruncateUtf8(*j.last_error, kTableErrorChars);
    listing.rows.push_back({j.id, j.checkpoint, j.dataset, JobStateName(j.state),
                            std::to_string(j.attempt) + "/" + std::to_string(j.max_attempts),
                            j.priority, OrNull(j.leased_by), error});
  }
  ctx.out << RenderListing(listing, ctx.format);
  return OkStatus();
}

Status RetryJobsCommand(CommandContext& ctx, JobQueue& queue, const JobSelection& selection) {
  if (selection.ids.empty() && !selection.all) {
    return InvalidArgumentError("jobs retry needs --id N (repeatable) or --dead");
  }
  JobFilter base;
  if (selection.all) base.states = {JobState::kDead};
  TW_ASSIGN_OR_RETURN(
      int n, ForSelection(selection, base, [&](const JobFilter& f) { return queue.RetryJobs(f); }));
  PrintChanged(ctx, n, "queued again");
  return OkStatus();
}

Status CancelJobsCommand(CommandContext& ctx, JobQueue& queue, const JobSelection& selection) {
  if (selection.ids.empty() && !selection.all) {
    return InvalidArgumentError("jobs cancel needs --id N (repeatable) or --pending");
  }
  JobFilter base;
  if (selection.all) base.states = {JobState::kPending};
  TW_ASSIGN_OR_RETURN(int n, ForSelection(selection, base,
                                          [&](const JobFilter& f) { return queue.CancelJobs(f); }));
  PrintChanged(ctx, n, "cancelled");
  return OkStatus();
}

Status ReevaluateCommand(CommandContext& ctx, JobQueue& queue, const ReevaluateOptions& options) {
  std::vector<JobState> states = {JobState::kDone};
  if (options.include_dead) states.push_back(JobState::kDead);
  if (options.include_pending) states.push_back(JobState::kPending);
  TW_ASSIGN_OR_RETURN(runner::RekeyResult result,
                      runner::RekeyJobs(queue, states, options.dataset, kEvaluatorVersion,
                                        options.max_attempts, /*cancel_replaced=*/true));
  if (ctx.format == OutputFormat::kTable) {
    ctx.out << result.queued << " job(s) queued for evaluator " << kEvaluatorVersion << " ("
            << result.already_queued << " already queued, " << result.already_recorded
            << " already recorded; " << result.cancelled << " pending job(s) replaced)\n";
    return OkStatus();
  }
  nlohmann::ordered_json j;
  j["evaluator_version"] = kEvaluatorVersion;
  j["queued"] = result.queued;
  j["already_queued"] = result.already_queued;
  j["already_recorded"] = result.already_recorded;
  j["replaced"] = result.cancelled;
  PrintObject(j, ctx.format, ctx.out);
  return OkStatus();
}

Status WaitJobsCommand(CommandContext& ctx, JobQueue& queue, const WaitJobsOptions& options) {
  TW_ASSIGN_OR_RETURN(std::chrono::milliseconds timeout, ParseDuration(options.timeout));
  auto deadline = std::chrono::steady_clock::now() + timeout;
  while (true) {
    TW_ASSIGN_OR_RETURN(JobCounts counts, queue.CountJobs());
    bool idle = counts.Active() == 0;
    if (idle || std::chrono::steady_clock::now() >= deadline) {
      if (ctx.format == OutputFormat::kTable) {
        ctx.out << "jobs: " << CountsText(counts) << "\n";
      } else {
        PrintObject(CountsJson(counts), ctx.format, ctx.out);
      }
      if (idle) return OkStatus();
      return DeadlineExceededError("timed out after " + options.timeout + " with " +
                                   std::to_string(counts.pending) + " pending and " +
                                   std::to_string(counts.running) + " running job(s)");
    }
    auto left = std::chrono::duration_cast<std::chrono::milliseconds>(
        deadline - std::chrono::steady_clock::now());
    std::this_thread::sleep_for(
        std::max(std::chrono::milliseconds(1), std::min(options.poll, left)));
  }
}

Status StatusCommand(CommandContext& ctx, JobQueue& queue) {
  TW_ASSIGN_OR_RETURN(JobCounts jobs, queue.CountJobs());
  TW_ASSIGN_OR_RETURN(StoreCounts counts, ctx.store.Counts());
  nlohmann::ordered_json status;
  status["jobs_pending"] = jobs.pending;
  status["jobs_running"] = jobs.running;
  status["jobs_done"] = jobs.done;
  status["jobs_dead"] = jobs.dead;
  status["jobs_cancelled"] = jobs.cancelled;
  status["checkpoints"] = counts.checkpoints;
  status["evaluations"] = counts.evaluations;
  status["datasets"] = counts.datasets;
  PrintObject(status, ctx.format, ctx.out);
  return OkStatus();
}

Status SetRunArchCommand(CommandContext& ctx, const std::string& run, const std::string& file) {
  char* resolved = ::realpath(file.c_str(), nullptr);
  if (resolved == nullptr) {
    return NotFoundError("architecture file " + file + ": " + std::strerror(errno));
  }
  std::string path(resolved);
  std::free(resolved);
  struct stat st;
  if (::stat(path.c_str(), &st) != 0 || !S_ISREG(st.st_mode)) {
    return InvalidArgumentError("architecture file " + file + " is not a regular file");
  }
  TW_ASSIGN_OR_RETURN(std::string sha, Sha256FileHex(path));
  TW_RETURN_IF_ERROR(ctx.store.SetRunArch(run, path, sha));
  if (ctx.format == OutputFormat::kTable) {
    ctx.out << "run " << run << ": architecture " << path << " (" << sha.substr(0, 12) << ")\n";
    return OkStatus();
  }
  nlohmann::ordered_json j;
  j["run"] = run;
  j["arch_path"] = path;
  j["arch_sha256"] = sha;
  PrintObject(j, ctx.format, ctx.out);
  return OkStatus();
}

Status ClearRunArchCommand(CommandContext& ctx, const std::string& run) {
  TW_RETURN_IF_ERROR(ctx.store.SetRunArch(run, std::nullopt, std::nullopt));
  if (ctx.format == OutputFormat::kTable) {
    ctx.out << "run " << run << ": architecture cleared\n";
    return OkStatus();
  }
  nlohmann::ordered_json j;
  j["run"] = run;
  j["arch_path"] = nullptr;
  j["arch_sha256"] = nullptr;
  PrintObject(j, ctx.format, ctx.out);
  return OkStatus();
}

}  // namespace tw::cli
