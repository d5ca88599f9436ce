#include "cli/eval_command.h"

#include <stdlib.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <climits>
#include <cmath>
#include <cstdlib>
#include <filesystem>
#include <iostream>
#include <map>
#include <nlohmann/json.hpp>

#include "cli/progress.h"
#include "common/file_util.h"
#include "common/numbers.h"
#include "common/process.h"
#include "common/sha256.h"
#include "common/time_util.h"
#include "common/version.h"
#include "datasets/manifest.h"
#include "datasets/presets.h"
#include "protocol/evaluator_protocol.h"
#include "runner/evaluator_run.h"
#include "runner/plan.h"
#include "scoring/corruption.h"
#include "scoring/records.h"
#include "store/checkpoint_name.h"
#include "watch/names.h"
#include "watch/torch_file.h"

namespace tw::cli {
namespace {

using Json = nlohmann::json;

std::string Basename(const std::string& path) { return path.substr(path.rfind('/') + 1); }

std::string ParentName(const std::string& absolute) {
  std::string parent = absolute.substr(0, absolute.rfind('/'));
  std::string name = Basename(parent);
  return name.empty() ? "default" : name;
}

StatusOr<std::string> Canonical(const std::string& path) {
  char buffer[PATH_MAX];
  if (::realpath(path.c_str(), buffer) == nullptr) return ErrnoToStatus(errno, path);
  return std::string(buffer);
}

struct Planned {
  runner::EvaluatorTarget target;
  std::optional<EvaluationSummary> stored;
};

struct Row {
  std::string dataset;
  double top1 = 0;
  std::optional<double> top5;
  int64_t n = 0;
  std::optional<double> nll, ece;
  std::string key;
  std::string digest;
  bool cached = false;
  std::string note;
};

}  // namespace

std::string FindEvaluator() {
  if (const char* env = std::getenv("TRANSFERWATCH_EVAL"); env != nullptr && *env != '\0') {
    return env;
  }
  char self[PATH_MAX];
  ssize_t n = ::readlink("/proc/self/exe", self, sizeof(self) - 1);
  if (n > 0) {
    self[n] = '\0';
    std::string beside =
        std::string(self).substr(0, std::string(self).rfind('/')) + "/transferwatch-eval";
    if (::access(beside.c_str(), X_OK) == 0) return beside;
  }
  return "transferwatch-eval";
}

Status Eval(CommandContext& ctx, const EvalOptions& options) {
  if (options.datasets.empty()) return InvalidArgumentError("eval needs at least one --dataset");
  TW_ASSIGN_OR_RETURN(std::string checkpoint, Canonical(options.checkpoint));
  struct stat st {};
  if (::stat(checkpoint.c_str(), &st) != 0 || !S_ISREG(st.st_mode)) {
    return InvalidArgumentError(options.checkpoint + " is not a file");
  }
  TW_ASSIGN_OR_RETURN(std::string checkpoint_sha, Sha256FileHex(checkpoint));
  std::optional<std::string> arch, arch_sha;
  if (options.arch) {
    TW_ASSIGN_OR_RETURN(arch, Canonical(*options.arch));
    TW_ASSIGN_OR_RETURN(arch_sha, Sha256FileHex(*arch));
  }
  CheckpointFileRegistration registration;
  registration.run = options.run.value_or(ParentName(checkpoint));
  registration.file_name = Basename(checkpoint);
  registration.sha256 = checkpoint_sha;
  registration.size_bytes = static_cast<int64_t>(st.st_size);
  registration.step = watch::StepFromFileName(registration.file_name);
  registration.path = checkpoint;
  registration.host = LocalHostName();
  registration.mtime_ns = static_cast<int64_t>(st.st_mtim.tv_sec) * 1000000000 + st.st_mtim.tv_nsec;
  if (auto kind = watch::InspectTorchFile(checkpoint); kind.ok()) {
    registration.format = watch::CheckpointFormatName(kind->kind);
  }
  TW_ASSIGN_OR_RETURN(CheckpointInfo info, ctx.store.RegisterCheckpointFile(registration));

  // Plan: each dataset's config and key; known keys are answered from the store.
  runner::ConfigCustomizer customize = [&](EvalConfig* config) -> Status {
    options.preprocessing.ApplyTo(config);
    if (options.batch_size) config->batch_size = *options.batch_size;
    if (options.dtype) config->dtype = *options.dtype;
    if (options.device) config->device = *options.device;
    if (options.fast_jpeg) config->fast_jpeg = true;
    config->skip_bad_images = options.skip_bad_images;
    return OkStatus();
  };
  auto plan_dataset = [&](const std::string& name) -> StatusOr<Planned> {
    Planned p;
    TW_ASSIGN_OR_RETURN(p.target.planned, runner::PlanDataset(ctx.store, name, customize));
    TW_ASSIGN_OR_RETURN(
        p.target.evaluation_key,
        runner::EvaluationKeyFor(p.target.planned, checkpoint_sha, arch_sha, kEvaluatorVersion));
    TW_ASSIGN_OR_RETURN(p.stored, ctx.store.FindEvaluation(p.target.evaluation_key));
    return p;
  };
  std::vector<Planned> plan;
  for (const auto& name : options.datasets) {
    for (const auto& p : plan) {
      if (p.target.planned.dataset == name) {
        return InvalidArgumentError("--dataset " + name + " is named twice");
      }
    }
    TW_ASSIGN_OR_RETURN(Planned p, plan_dataset(name));
    plan.push_back(std::move(p));
  }

  std::map<std::string, Row> rows;
  runner::EvaluatorRun run;
  std::map<std::string, const Planned*> by_name;
  for (auto& p : plan) {
    const std::string& name = p.target.planned.dataset;
    by_name[name] = &p;
    if (p.stored && !options.force) {
      rows[name] = Row{name,
                       p.stored->top1,
                       p.stored->top5,
                       p.stored->num_samples.value_or(0),
                       p.stored->nll,
                       p.stored->ece,
                       p.target.evaluation_key,
                       p.stored->predictions_digest.value_or(""),
                       true,
                       ""};
    } else {
      TW_ASSIGN_OR_RETURN(p.target.manifest,
                          ctx.store.GetManifest(p.target.planned.version.manifest_sha256));
      run.targets.push_back(p.target);
    }
  }

  bool not_reproduced = false;
  Status run_status;
  if (!run.targets.empty()) {
    run.evaluator = options.evaluator;
    run.work_dir = options.work_dir;
    run.checkpoint_id = info.id;
    run.checkpoint_path = checkpoint;
    run.checkpoint_sha256 = checkpoint_sha;
    run.arch_path = arch;
    run.arch_sha256 = arch_sha;
    run.threads = options.threads;
    run.decode_threads = options.decode_threads;
    run.skip_bad_images = options.skip_bad_images;
    std::string normaliser = options.normaliser.value_or(datasets::DataDir() +
                                                         "/imagenet/imagenet_c_alexnet_errors.tsv");
    if (options.normaliser || PathExists(normaliser)) {
      TW_ASSIGN_OR_RETURN(run.normaliser_path, Canonical(normaliser));
    }
    // A suite's clean top-1: the one recorded under the key this same command gives the
    // reference, never some other configuration's.
    run.clean_top1 = [&](const std::string& reference) -> std::optional<double> {
      if (auto it = by_name.find(reference); it != by_name.end() && it->second->stored) {
        return it->second->stored->top1;
      }
      auto planned = plan_dataset(reference);
      if (!planned.ok() || !planned->stored) return std::nullopt;
      return planned->stored->top1;
    };
    ProgressLine progress("evaluating " + info.display_name, "img", options.progress);
    run.on_progress = [&](const protocol::Progress& p) {
      progress.Update(p.done, p.total, p.images_per_s);
    };
    run.on_record = [&](const runner::EvaluatorTarget& target, EvaluationRecord e) -> Status {
      const Planned& p = *by_name.at(target.planned.dataset);
      Row row{e.dataset, e.top1, e.top5,           e.num_samples,
              e.nll,     e.ece,  e.evaluation_key, e.predictions_digest,
              false,     ""};
      Status status;
      if (p.stored) {
        // --force: the same key must give the same predictions and numbers, bit for bit.
        const EvaluationSummary& before = *p.stored;
        bool same = before.predictions_digest == e.predictions_digest && before.top1 == e.top1 &&
                    before.top5 == e.top5 && before.nll == e.nll && before.ece == e.ece;
        row.note = same ? "reproduced bit for bit"
                        : "NOT reproduced: recorded digest " +
                              before.predictions_digest.value_or("-").substr(0, 12) + " top1 " +
                              std::to_string(before.top1);
        not_reproduced |= !same;
      } else {
        status = ctx.store.RecordEvaluation(e).status();
      }
      rows[row.dataset] = row;
      return status;
    };
    TW_ASSIGN_OR_RETURN(runner::EvaluatorOutcome outcome, runner::RunEvaluator(run));
    progress.Finish();
    run_status = outcome.Overall();
  }

  // Results in the order the datasets were named.
  Listing listing;
  listing.list_name = "evaluations";
  bool table = ctx.format == OutputFormat::kTable;
  listing.columns = {{"dataset", "dataset"},    {"top1", "top1", 3},
                     {"top5", "top5", 3},       {"n", "n"},
                     {"nll", "nll", 4},         {"ece", "ece", 4},
                     {"evaluation_key", "key"}, {"predictions_digest", "predictions"},
                     {"cached", "cached"}};
  if (table) listing.columns.push_back({"note", "note"});
  for (const auto& name : options.datasets) {
    auto it = rows.find(name);
    if (it == rows.end()) continue;
    const Row& r = it->second;
    std::vector<Json> row = {r.dataset,
                             r.top1,
                             r.top5 ? Json(*r.top5) : Json(nullptr),
                             r.n,
                             r.nll ? Json(*r.nll) : Json(nullptr),
                             r.ece ? Json(*r.ece) : Json(nullptr),
                             table ? r.key.substr(0, 12) : r.key,
                             table ? r.digest.substr(0, 12) : r.digest,
                             r.cached};
    if (table) row.push_back(r.note);
    listing.rows.push_back(std::move(row));
  }
  if (table)
    ctx.out << "checkpoint " << info.display_name << " (" << checkpoint_sha.substr(0, 12) << ")\n";
  ctx.out << RenderListing(listing, ctx.format);
  TW_RETURN_IF_ERROR(run_status);
  if (not_reproduced) {
    return DataLossError("a re-run did not reproduce the recorded predictions (see the note)");
  }
  return OkStatus();
}

Status ExportPredictions(CommandContext& ctx, const ExportOptions& options) {
  if (options.format != "csv" && options.format != "jsonl") {
    return InvalidArgumentError("--format for predictions must be csv or jsonl");
  }
  TW_ASSIGN_OR_RETURN(ResolvedCheckpoint resolved,
                      ResolveCheckpoint(ctx.store, options.checkpoint));
  ResultQuery query;
  query.checkpoint_id = resolved.checkpoint.id;
  query.datasets = {options.dataset};
  query.img_size = resolved.img_size;
  query.limit = 1;  // the newest evaluation
  TW_ASSIGN_OR_RETURN(auto rows, ctx.store.QueryResults(query));
  if (rows.empty()) {
    return NotFoundError(resolved.checkpoint.display_name + " has no evaluation on " +
                         options.dataset);
  }
  TW_ASSIGN_OR_RETURN(StoredPredictions stored, ctx.store.GetPredictions(rows[0].evaluation_id));
  TW_ASSIGN_OR_RETURN(auto records, scoring::DecodeRecords(stored.data));
  TW_ASSIGN_OR_RETURN(std::string manifest_text, ctx.store.GetManifest(stored.manifest_sha256));
  TW_ASSIGN_OR_RETURN(datasets::Manifest manifest,
                      datasets::ManifestFromJson(manifest_text, "manifest"));
  if (manifest.files.size() != records.size()) {
    return DataLossError("the stored predictions have " + std::to_string(records.size()) +
                         " samples, the manifest " + std::to_string(manifest.files.size()));
  }
  if (options.format == "csv") ctx.out << scoring::RecordCsvHeader();
  for (size_t i = 0; i < records.size(); ++i) {
    ctx.out << (options.format == "csv"
                    ? scoring::RecordCsvRow(manifest.files[i].path, records[i])
                    : scoring::RecordJsonLine(manifest.files[i].path, records[i]));
  }
  return OkStatus();
}

}  // namespace tw::cli
