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
#include "scoring/corruption.h"
#include "scoring/records.h"
#include "store/checkpoint_name.h"
#include "watch/names.h"

extern char** environ;

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
        StatusCode::kInternal, StatusCode::kDeadlineExceeded, StatusCode::kAlreadyExists}) {
    if (StatusCodeName(code) == name) return code;
  }
  return StatusCode::kUnknown;
}

struct Planned {
  std::string dataset;
  bool suite = false;  // a corruption suite (scored per corruption and severity)
  std::optional<std::string> reference;
  std::string records_path;  // where the evaluator writes its per-sample records
  DatasetVersionInfo version;
  EvalConfig config;
  HashedJson config_hash;
  std::string key;
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
  TW_ASSIGN_OR_RETURN(CheckpointInfo info, ctx.store.RegisterCheckpointFile(registration));

  // Plan: each dataset's config and key; known keys are answered from the store.
  auto plan_dataset = [&](const std::string& name) -> StatusOr<Planned> {
    Planned p;
    p.dataset = name;
    TW_ASSIGN_OR_RETURN(p.version, ctx.store.GetDatasetVersion(name));
    TW_ASSIGN_OR_RETURN(DatasetInfo dataset_info, ctx.store.GetDataset(name));
    p.suite = dataset_info.protocol_json.find("corruption-suite") != std::string::npos;
    TW_RETURN_IF_ERROR(ApplyEvalConfigJson(p.version.default_config_json, &p.config)
                           .WithContext("dataset " + name + "'s default config"));
    options.preprocessing.ApplyTo(&p.config);
    if (options.batch_size) p.config.batch_size = *options.batch_size;
    if (options.dtype) p.config.dtype = *options.dtype;
    if (options.device) p.config.device = *options.device;
    if (options.fast_jpeg) p.config.fast_jpeg = true;
    p.config.skip_bad_images = options.skip_bad_images;
    NormalizeEvalConfig(/*resize_and_crop=*/!p.suite, &p.config);
    TW_ASSIGN_OR_RETURN(p.config_hash, HashEvalConfig(p.config));
    TW_ASSIGN_OR_RETURN(
        p.key, EvaluatorEvaluationKey(checkpoint_sha, arch_sha, name, p.version.manifest_sha256,
                                      p.config_hash.sha256, kEvaluatorVersion));
    TW_ASSIGN_OR_RETURN(p.stored, ctx.store.FindEvaluation(p.key));
    p.reference = dataset_info.reference;
    return p;
  };
  std::vector<Planned> plan;
  for (const auto& name : options.datasets) {
    for (const auto& p : plan) {
      if (p.dataset == name) return InvalidArgumentError("--dataset " + name + " is named twice");
    }
    TW_ASSIGN_OR_RETURN(Planned p, plan_dataset(name));
    plan.push_back(std::move(p));
  }

  std::map<std::string, Row> rows;
  std::vector<const Planned*> to_run;
  // Top-1 of each dataset as this run learns it: a corruption suite's relative mCE needs its
  // clean reference's (the evaluator reports results in job order, suites last).
  std::map<std::string, double> top1_seen;
  for (const auto& p : plan) {
    if (p.stored && !options.force) {
      Row row{p.dataset,      p.stored->top1,
              p.stored->top5, p.stored->num_samples.value_or(0),
              p.stored->nll,  p.stored->ece,
              p.key,          p.stored->predictions_digest.value_or(""),
              true,           ""};
      rows[p.dataset] = row;
    } else {
      to_run.push_back(&p);
    }
    if (p.stored) top1_seen[p.dataset] = p.stored->top1;
  }
  std::stable_partition(to_run.begin(), to_run.end(), [](const Planned* p) { return !p->suite; });
  // A corruption suite's clean top-1 (for the relative mCE): the reference's result of this
  // run, else the one recorded under the key this same command gives the reference, never
  // some other configuration's.
  auto clean_top1 = [&](const Planned& suite) -> std::optional<double> {
    if (!suite.reference) return std::nullopt;
    if (auto it = top1_seen.find(*suite.reference); it != top1_seen.end()) return it->second;
    auto reference = plan_dataset(*suite.reference);
    if (!reference.ok() || !reference->stored) return std::nullopt;
    return reference->stored->top1;
  };

  std::vector<std::string> errors;
  StatusCode worst = StatusCode::kOk;
  if (!to_run.empty()) {
    ScratchDir scratch;
    std::string pattern = options.work_dir + "/tw-eval-XXXXXX";
    if (::mkdtemp(pattern.data()) == nullptr) {
      return ErrnoToStatus(errno, "cannot create a job folder in " + options.work_dir);
    }
    scratch.path = pattern;
    // As root the evaluator runs as an unprivileged user: a checkpoint is a program.
    std::optional<UserIdentity> run_as;
    if (::geteuid() == 0) {
      auto user = LookupUser("transferwatch");
      if (!user.ok()) user = LookupUser("nobody");
      if (!user.ok()) {
        return FailedPreconditionError(
            "running as root, the evaluator needs an unprivileged user to run as, and neither "
            "'transferwatch' nor 'nobody' exists");
      }
      run_as = *user;
      if (::chown(scratch.path.c_str(), run_as->uid, run_as->gid) != 0) {
        return ErrnoToStatus(errno, "cannot give " + scratch.path + " to " + run_as->name);
      }
    }
    protocol::Job job;
    job.evaluator_version = kEvaluatorVersion;
    job.checkpoint_path = checkpoint;
    job.checkpoint_sha256 = checkpoint_sha;
    job.arch_path = arch;
    job.arch_sha256 = arch_sha;
    job.threads = options.threads;
    job.decode_threads = options.decode_threads > 0 ? options.decode_threads : 1;
    job.skip_bad_images = options.skip_bad_images;
    std::string normaliser = options.normaliser.value_or(datasets::DataDir() +
                                                         "/imagenet/imagenet_c_alexnet_errors.tsv");
    if (options.normaliser || PathExists(normaliser)) {
      TW_ASSIGN_OR_RETURN(job.normaliser_path, Canonical(normaliser));
    }
    for (const Planned* p : to_run) {
      protocol::JobDataset d;
      d.name = p->dataset;
      d.root = p->version.root;
      d.manifest_path = scratch.path + "/" + std::to_string(job.datasets.size()) + ".manifest.json";
      TW_ASSIGN_OR_RETURN(std::string manifest, ctx.store.GetManifest(p->version.manifest_sha256));
      TW_RETURN_IF_ERROR(WriteFileAtomic(d.manifest_path, manifest, 0600));
      d.manifest_sha256 = p->version.manifest_sha256;
      d.eval_config = p->config;
      d.eval_config_sha256 = p->config_hash.sha256;
      d.evaluation_key = p->key;
      d.records_path = scratch.path + "/" + std::to_string(job.datasets.size()) + ".records";
      const_cast<Planned*>(p)->records_path = d.records_path;
      job.datasets.push_back(std::move(d));
    }
    TW_ASSIGN_OR_RETURN(std::string job_json, protocol::JobToJson(job));
    std::string job_path = scratch.path + "/job.json";
    TW_RETURN_IF_ERROR(WriteFileAtomic(job_path, job_json, 0600));
    if (run_as) {
      // The evaluator reads the job and manifests and writes its records in the folder.
      for (const auto& entry : std::filesystem::directory_iterator(scratch.path)) {
        if (::chown(entry.path().c_str(), run_as->uid, run_as->gid) != 0) {
          return ErrnoToStatus(errno,
                               "cannot give " + entry.path().string() + " to " + run_as->name);
        }
      }
    }

    std::map<std::string, const Planned*> by_name;
    for (const Planned* p : to_run) by_name[p->dataset] = p;
    ProgressLine progress("evaluating " + info.display_name, "img", options.progress);
    Json provenance = Json::object();
    Status record_error;
    ProcessSpec spec;
    spec.argv = {options.evaluator, "--job", job_path};
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
    // Without network where the OS allows it (as root: a network namespace of its own).
    spec.no_network = ::geteuid() == 0;
    spec.timeout = std::chrono::hours(72);
    spec.max_output_bytes = 64 << 20;  // stderr kept, and the longest event line
    spec.on_stdout_line = [&](std::string_view line) {
      auto event = protocol::ParseEventLine(line);
      if (!event.ok()) {
        errors.push_back("unreadable evaluator output: " + event.status().message());
        worst = StatusCode::kInternal;
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
          progress.Update(event->progress.done, event->progress.total,
                          event->progress.images_per_s);
          break;
        case protocol::Event::Kind::kError:
          errors.push_back((event->error_dataset ? *event->error_dataset + ": " : "") +
                           event->error_message);
          if (worst == StatusCode::kOk) worst = CodeFromName(event->error_code);
          break;
        case protocol::Event::Kind::kDone:
          break;
        case protocol::Event::Kind::kResult: {
          const auto& r = event->result;
          auto it = by_name.find(r.dataset);
          if (it == by_name.end() || it->second->key != r.evaluation_key) {
            errors.push_back("the evaluator reported an unexpected result for " + r.dataset);
            worst = StatusCode::kInternal;
            return;
          }
          const Planned& p = *it->second;
          // The records file this command assigned, checked, not whatever path was reported.
          auto records = ReadFileToString(p.records_path, 1ull << 32);
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
          Row row{r.dataset, r.top1, r.top5, r.n, r.nll, r.ece, p.key, r.records_digest, false, ""};
          top1_seen[r.dataset] = r.top1;
          if (status.ok() && p.stored) {
            // --force: the same key must give the same predictions and numbers, bit for bit.
            const EvaluationSummary& before = *p.stored;
            bool same = before.predictions_digest == r.records_digest && before.top1 == r.top1 &&
                        before.top5 == r.top5 && before.nll == r.nll && before.ece == r.ece;
            row.note = same ? "reproduced bit for bit"
                            : "NOT reproduced: recorded digest " +
                                  before.predictions_digest.value_or("-").substr(0, 12) + " top1 " +
                                  std::to_string(before.top1);
            if (!same) worst = StatusCode::kDataLoss;
          } else if (status.ok()) {
            EvaluationRecord e;
            e.evaluation_key = p.key;
            e.checkpoint_id = info.id;
            e.dataset = r.dataset;
            e.manifest_sha256 = p.version.manifest_sha256;
            e.arch_sha256 = arch_sha;
            e.eval_config = ImportedEvalConfig{p.config_hash.sha256, p.config_hash.hash_version,
                                               p.config_hash.canonical};
            e.top1 = r.top1;
            e.top5 = r.top5;
            e.num_samples = static_cast<int>(r.n);
            e.nll = r.nll;
            e.ece = r.ece;
            Json metrics = {{"excluded", r.excluded}, {"bad_images", r.bad_image_count}};
            if (!r.corruption_json.empty()) {
              metrics["corruption"] = Json::parse(r.corruption_json);
              auto clean = clean_top1(p);
              if (clean && job.normaliser_path) {
                // Relative mCE compares the drop from the clean error with AlexNet's drop.
                auto table_text = ReadFileToString(*job.normaliser_path, 1 << 20);
                auto table = table_text.ok()
                                 ? scoring::ParseAlexNetTable(*table_text, *job.normaliser_path)
                                 : StatusOr<scoring::AlexNetErrors>(table_text.status());
                std::vector<scoring::SubsetResult> subsets;
                for (const auto& s : r.corruption_subsets) {
                  subsets.push_back(scoring::SubsetResult{s.corruption, s.severity, s.top1});
                }
                auto summary = table.ok() ? scoring::SummarizeCorruption(subsets, *table, *clean)
                                          : StatusOr<scoring::CorruptionSummary>(table.status());
                if (summary.ok() && summary->relative_mce) {
                  metrics["corruption"]["relative_mce"] = *summary->relative_mce;
                  metrics["corruption"]["clean_top1"] = *clean;
                  metrics["corruption"]["clean_dataset"] = *p.reference;
                }
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
            prov["checkpoint_path"] = checkpoint;
            if (arch) prov["arch_path"] = *arch;
            e.provenance_json = prov.dump(-1, ' ', false, Json::error_handler_t::replace);
            e.predictions = *records;
            e.predictions_digest = r.records_digest;
            e.predictions_count = static_cast<int>(r.records_count);
            status = ctx.store.RecordEvaluation(e).status();
          }
          if (!status.ok() && record_error.ok()) record_error = status;
          rows[r.dataset] = row;
          break;
        }
      }
    };
    auto run = RunProcess(spec);
    if (!run.ok() && spec.no_network &&
        run.status().message().find("unshare") != std::string::npos) {
      spec.no_network = false;  // not allowed here (a container without the capability)
      run = RunProcess(spec);
    }
    progress.Finish();
    if (!run.ok()) return run.status().WithContext("cannot run " + options.evaluator);
    TW_RETURN_IF_ERROR(record_error);
    if (!run->ok() && errors.empty()) {
      // The evaluator died without saying why (a crash inside LibTorch): show its stderr.
      std::string tail =
          run->output.size() > 2000 ? run->output.substr(run->output.size() - 2000) : run->output;
      errors.push_back("transferwatch-eval " + run->Describe() + (tail.empty() ? "" : ": " + tail));
      worst = StatusCode::kInternal;
    }
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
  if (!errors.empty()) {
    std::string message = "evaluation failed: ";
    for (size_t i = 0; i < errors.size(); ++i) message += (i ? "; " : "") + errors[i];
    return Status(worst == StatusCode::kOk ? StatusCode::kUnknown : worst, message);
  }
  if (worst == StatusCode::kDataLoss) {
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
