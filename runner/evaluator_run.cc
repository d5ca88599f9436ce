#include "runner/evaluator_run.h"

#include <signal.h>
#include <stdlib.h>
#include <sys/resource.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstdlib>
#include <filesystem>
#include <nlohmann/json.hpp>

#include "common/file_util.h"
#include "common/time_util.h"
#include "common/version.h"
#include "scoring/corruption.h"
#include "scoring/records.h"

extern char** environ;

namespace tw::runner {
namespace {

using Json = nlohmann::json;

// Removes a folder tree on destruction (the job's temporary files).
struct ScratchDir {
  std::string path;
  ~ScratchDir() {
    if (!path.empty()) {
      std::error_code ec;
      std::filesystem::remove_all(path, ec);
    }
  }
};

StatusCode CodeFromName(const std::string& name) {
  for (auto code :
       {StatusCode::kInvalidArgument, StatusCode::kNotFound, StatusCode::kFailedPrecondition,
        StatusCode::kUnavailable, StatusCode::kPermissionDenied, StatusCode::kDataLoss,
        StatusCode::kInternal, StatusCode::kDeadlineExceeded, StatusCode::kAlreadyExists,
        StatusCode::kCancelled}) {
    if (StatusCodeName(code) == name) return code;
  }
  return StatusCode::kUnknown;
}

// The relative mCE of a suite from its subsets, AlexNet's table and the clean top-1.
void AddRelativeMce(const protocol::DatasetResult& r, const std::string& normaliser_path,
                    double clean, const std::string& clean_dataset, Json& corruption) {
  auto table_text = ReadFileToString(normaliser_path, 1 << 20);
  if (!table_text.ok()) return;
  auto table = scoring::ParseAlexNetTable(*table_text, normaliser_path);
  if (!table.ok()) return;
  std::vector<scoring::SubsetResult> subsets;
  for (const auto& s : r.corruption_subsets) {
    subsets.push_back(scoring::SubsetResult{s.corruption, s.severity, s.top1});
  }
  auto summary = scoring::SummarizeCorruption(subsets, *table, clean);
  if (summary.ok() && summary->relative_mce) {
    corruption["relative_mce"] = *summary->relative_mce;
    corruption["clean_top1"] = clean;
    corruption["clean_dataset"] = clean_dataset;
  }
}

}  // namespace

Status EvaluatorOutcome::Overall() const {
  std::string message;
  StatusCode worst = StatusCode::kOk;
  for (const auto& error : errors) {
    message += (message.empty() ? "" : "; ") + error;
    if (worst == StatusCode::kOk) worst = StatusCode::kInternal;
  }
  for (const auto& [dataset, status] : datasets) {
    if (status.ok()) continue;
    message += (message.empty() ? "" : "; ") + dataset + ": " + status.message();
    if (worst == StatusCode::kOk || worst == StatusCode::kInternal) worst = status.code();
  }
  if (worst == StatusCode::kOk) return OkStatus();
  return Status(worst, "evaluation failed: " + message);
}

int SweepStaleJobFolders(const std::string& work_dir) {
  int removed = 0;
  std::error_code ec;
  for (const auto& entry : std::filesystem::directory_iterator(work_dir, ec)) {
    std::string name = entry.path().filename().string();
    if (name.rfind("tw-eval-", 0) != 0) continue;
    std::string rest = name.substr(8);
    auto dash = rest.find('-');
    if (dash == std::string::npos || dash == 0) continue;
    char* end = nullptr;
    long pid = std::strtol(rest.c_str(), &end, 10);
    if (end != rest.c_str() + dash || pid <= 0) continue;
    if (::kill(static_cast<pid_t>(pid), 0) == 0 || errno != ESRCH) continue;  // alive
    std::error_code remove_error;
    if (std::filesystem::remove_all(entry.path(), remove_error) > 0 && !remove_error) ++removed;
  }
  return removed;
}

StatusOr<std::optional<UserIdentity>> EvaluatorUser() {
  if (::geteuid() != 0) return std::optional<UserIdentity>();
  auto user = LookupUser("transferwatch");
  if (!user.ok()) user = LookupUser("nobody");
  if (!user.ok()) {
    return FailedPreconditionError(
        "running as root, the evaluator needs an unprivileged user to run as, and neither "
        "'transferwatch' nor 'nobody' exists");
  }
  return std::optional<UserIdentity>(*user);
}

StatusOr<EvaluatorOutcome> RunEvaluator(const EvaluatorRun& run) {
  EvaluatorOutcome outcome;
  if (run.targets.empty()) return outcome;
  ScratchDir scratch;
  // The pid in the name lets SweepStaleJobFolders tell a dead owner's folder from a live one's.
  std::string pattern = run.work_dir + "/tw-eval-" + std::to_string(::getpid()) + "-XXXXXX";
  if (::mkdtemp(pattern.data()) == nullptr) {
    return ErrnoToStatus(errno, "cannot create a job folder in " + run.work_dir);
  }
  scratch.path = pattern;
  // As root the evaluator runs as an unprivileged user: a checkpoint is a program.
  TW_ASSIGN_OR_RETURN(std::optional<UserIdentity> run_as, EvaluatorUser());
  outcome.ran_as_other_user = run_as.has_value();
  if (run_as && ::chown(scratch.path.c_str(), run_as->uid, run_as->gid) != 0) {
    return ErrnoToStatus(errno, "cannot give " + scratch.path + " to " + run_as->name);
  }

  // Suites last: their relative mCE needs the clean reference's top-1 of this same run.
  std::vector<const EvaluatorTarget*> order;
  for (const auto& t : run.targets) order.push_back(&t);
  std::stable_partition(order.begin(), order.end(),
                        [](const EvaluatorTarget* t) { return !t->planned.suite; });

  protocol::Job job;
  job.evaluator_version = kEvaluatorVersion;
  job.checkpoint_path = run.checkpoint_path;
  job.checkpoint_sha256 = run.checkpoint_sha256;
  job.arch_path = run.arch_path;
  job.arch_sha256 = run.arch_sha256;
  job.threads = run.threads;
  job.decode_threads = run.decode_threads > 0 ? run.decode_threads : 1;
  job.skip_bad_images = run.skip_bad_images;
  job.normaliser_path = run.normaliser_path;
  std::map<std::string, const EvaluatorTarget*> by_name;
  std::map<std::string, std::string> records_paths;  // assigned here, never taken from output
  for (const EvaluatorTarget* t : order) {
    const PlannedDataset& p = t->planned;
    protocol::JobDataset d;
    d.name = p.dataset;
    d.root = p.version.root;
    std::string index = std::to_string(job.datasets.size());
    d.manifest_path = scratch.path + "/" + index + ".manifest.json";
    TW_RETURN_IF_ERROR(WriteFileAtomic(d.manifest_path, t->manifest, 0600));
    d.manifest_sha256 = p.version.manifest_sha256;
    d.eval_config = p.config;
    d.eval_config_sha256 = p.config_hash.sha256;
    d.evaluation_key = t->evaluation_key;
    d.records_path = scratch.path + "/" + index + ".records";
    records_paths[p.dataset] = d.records_path;
    by_name[p.dataset] = t;
    outcome.datasets[p.dataset] = UnknownError("no result was reported");
    job.datasets.push_back(std::move(d));
  }
  TW_ASSIGN_OR_RETURN(std::string job_json, protocol::JobToJson(job));
  std::string job_path = scratch.path + "/job.json";
  TW_RETURN_IF_ERROR(WriteFileAtomic(job_path, job_json, 0600));
  if (run_as) {
    // The evaluator reads the job and manifests and writes its records in the folder.
    for (const auto& entry : std::filesystem::directory_iterator(scratch.path)) {
      if (::chown(entry.path().c_str(), run_as->uid, run_as->gid) != 0) {
        return ErrnoToStatus(errno, "cannot give " + entry.path().string() + " to " + run_as->name);
      }
    }
  }

  std::map<std::string, double> top1_seen;
  Json provenance = Json::object();
  ProcessSpec spec;
  spec.argv = {run.evaluator, "--job", job_path};
  // OpenMP threads are set by the evaluator; OpenBLAS must not start its own pool on top.
  // None of our settings (database URL, secrets) reach the checkpoint's code.
  spec.env = {"OPENBLAS_NUM_THREADS=1", "LC_ALL=C.UTF-8", "TMPDIR=" + scratch.path};
  for (char** e = environ; *e != nullptr; ++e) {
    std::string entry(*e);
    if (entry.rfind("TRANSFERWATCH_", 0) == 0 || entry.rfind("PG", 0) == 0) {
      spec.env.push_back(entry.substr(0, entry.find('=')));
    }
  }
  spec.run_as = run_as;
  spec.working_directory = scratch.path;
  spec.limits = {{RLIMIT_CORE, 0}, {RLIMIT_NOFILE, 4096}};
  for (const auto& limit : run.extra_limits) spec.limits.push_back(limit);
  // Without network where the OS allows it (as root: a network namespace of its own).
  spec.no_network = ::geteuid() == 0;
  spec.timeout = run.timeout;
  spec.max_output_bytes = 64 << 20;  // stderr kept, and the longest event line
  spec.keep_going = run.keep_going;
  spec.on_stdout_line = [&](std::string_view line) {
    auto event = protocol::ParseEventLine(line);
    if (!event.ok()) {
      outcome.errors.push_back("unreadable evaluator output: " + event.status().message());
      return;
    }
    switch (event->kind) {
      case protocol::Event::Kind::kStart: {
        Json start = Json::parse(event->json, nullptr, false);
        if (start.is_object()) {
          start.erase("event");
          provenance = start;
          provenance["evaluator_user"] = run_as ? run_as->name : std::string("self");
          provenance["network_isolated"] = spec.no_network;
        }
        break;
      }
      case protocol::Event::Kind::kProgress:
        if (run.on_progress) run.on_progress(event->progress);
        break;
      case protocol::Event::Kind::kError: {
        Status error(CodeFromName(event->error_code), event->error_message);
        if (event->error_dataset && by_name.count(*event->error_dataset)) {
          outcome.datasets[*event->error_dataset] = error;
        } else {
          outcome.errors.push_back(event->error_message);
        }
        break;
      }
      case protocol::Event::Kind::kDone:
        break;
      case protocol::Event::Kind::kResult: {
        const auto& r = event->result;
        auto it = by_name.find(r.dataset);
        if (it == by_name.end() || it->second->evaluation_key != r.evaluation_key) {
          outcome.errors.push_back("the evaluator reported an unexpected result for " + r.dataset);
          return;
        }
        const EvaluatorTarget& target = *it->second;
        const PlannedDataset& p = target.planned;
        // The records file assigned above, checked, not whatever path was reported.
        auto records = ReadFileToString(records_paths[r.dataset], 1ull << 32);
        Status status = records.status();
        if (status.ok() && scoring::RecordsDigest(*records) != r.records_digest) {
          status = DataLossError("the per-sample records of " + r.dataset +
                                 " do not match their digest");
        }
        if (status.ok()) {
          auto decoded = scoring::DecodeRecords(*records);
          status = decoded.status();
          if (status.ok() && static_cast<int64_t>(decoded->size()) != p.version.num_files) {
            status = DataLossError("the evaluator returned " + std::to_string(decoded->size()) +
                                   " per-sample records for " + r.dataset + ", which has " +
                                   std::to_string(p.version.num_files) + " images");
          }
        }
        if (!status.ok()) {
          outcome.datasets[r.dataset] = status;
          return;
        }
        top1_seen[r.dataset] = r.top1;
        EvaluationRecord e;
        e.evaluation_key = target.evaluation_key;
        e.checkpoint_id = run.checkpoint_id;
        e.dataset = r.dataset;
        e.manifest_sha256 = p.version.manifest_sha256;
        e.arch_sha256 = run.arch_sha256;
        e.eval_config = p.StoredConfig();
        e.top1 = r.top1;
        e.top5 = r.top5;
        e.num_samples = static_cast<int>(r.n);
        e.nll = r.nll;
        e.ece = r.ece;
        Json metrics = {{"excluded", r.excluded}, {"bad_images", r.bad_image_count}};
        if (!r.corruption_json.empty()) {
          metrics["corruption"] = Json::parse(r.corruption_json, nullptr, false);
          if (!metrics["corruption"].is_object()) metrics["corruption"] = Json::object();
          std::optional<double> clean;
          if (p.reference) {
            if (auto seen = top1_seen.find(*p.reference); seen != top1_seen.end()) {
              clean = seen->second;
            } else if (run.clean_top1) {
              clean = run.clean_top1(*p.reference);
            }
          }
          if (clean && run.normaliser_path) {
            AddRelativeMce(r, *run.normaliser_path, *clean, *p.reference, metrics["corruption"]);
          }
          Json subsets = Json::array();
          for (const auto& s : r.corruption_subsets) {
            subsets.push_back(
                {{"corruption", s.corruption}, {"severity", s.severity}, {"top1", s.top1}});
          }
          metrics["corruption"]["subsets"] = subsets;
        }
        e.metrics_json = metrics.dump();
        e.per_class_json = r.per_class_json;
        Json prov = provenance;
        prov["dataset_version"] = p.version.version;
        prov["root"] = p.version.root;
        prov["wall_s"] = r.wall_s;
        prov["ended_at"] = FormatIso8601Utc(std::chrono::system_clock::now());
        prov["checkpoint_path"] = run.checkpoint_path;
        if (run.arch_path) prov["arch_path"] = *run.arch_path;
        e.provenance_json = prov.dump(-1, ' ', false, Json::error_handler_t::replace);
        e.predictions = std::move(*records);
        e.predictions_digest = r.records_digest;
        e.predictions_count = static_cast<int>(r.records_count);
        outcome.datasets[r.dataset] =
            run.on_record ? run.on_record(target, std::move(e)) : OkStatus();
        break;
      }
    }
  };
  auto process = RunProcess(spec);
  if (!process.ok() && spec.no_network &&
      process.status().message().find("unshare") != std::string::npos) {
    spec.no_network = false;  // not allowed here (a container without the capability)
    process = RunProcess(spec);
  }
  if (!process.ok()) return process.status().WithContext("cannot run " + run.evaluator);
  outcome.process = *process;
  if (process->signal == 0 && process->exit_code == protocol::kEvaluatorExitBadCheckpoint &&
      !outcome.errors.empty()) {
    // The checkpoint itself was refused (not loadable, hostile, wrong output), and said why in
    // `errors`: the same file fails the same way every time, so each unreported dataset fails
    // with InvalidArgument, which callers treat as permanent (the daemon does not retry it).
    for (auto& [dataset, status] : outcome.datasets) {
      if (status.code() == StatusCode::kUnknown && status.message() == "no result was reported") {
        status = InvalidArgumentError("the evaluator refused the checkpoint");
      }
    }
  }
  if (!process->ok()) {
    bool any_failed = false, any_unreported = false;
    for (const auto& [dataset, status] : outcome.datasets) {
      any_failed |= !status.ok();
      any_unreported |=
          status.code() == StatusCode::kUnknown && status.message() == "no result was reported";
    }
    bool unexplained = any_unreported || (!any_failed && outcome.errors.empty());
    if (unexplained) {
      // The evaluator died without saying why (a crash inside LibTorch, out of memory): show
      // its stderr.
      std::string tail = process->output.size() > 2000
                             ? process->output.substr(process->output.size() - 2000)
                             : process->output;
      outcome.errors.push_back("transferwatch-eval " + process->Describe() +
                               (tail.empty() ? "" : ": " + tail));
    }
  }
  return outcome;
}

}  // namespace tw::runner
