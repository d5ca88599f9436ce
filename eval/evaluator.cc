#include "eval/evaluator.h"

#include <ATen/Parallel.h>
#include <fcntl.h>
#include <torch/script.h>
#include <torch/version.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <filesystem>
#include <map>
#include <memory>
#include <nlohmann/json.hpp>
#include <thread>

#include "common/file_util.h"
#include "common/sha256.h"
#include "common/time_util.h"
#include "common/version.h"
#include "datasets/manifest.h"
#include "eval/checkpoint.h"
#include "imaging/batch_feeder.h"
#include "scoring/corruption.h"
#include "scoring/metrics.h"
#include "scoring/records.h"

namespace tw::eval {
namespace {

using imaging::BatchFeeder;
using imaging::FeederOptions;
using imaging::FeedItem;

using Json = nlohmann::json;
using protocol::Job;
using protocol::JobDataset;
using SteadyClock = std::chrono::steady_clock;

constexpr uint64_t kMaxManifestBytes = 1ull << 30;

struct DatasetRun {
  const JobDataset* job = nullptr;
  datasets::Manifest manifest;
  std::unique_ptr<scoring::Accumulator> accumulator;
  // Corruption suites: one accumulator per (corruption, severity) beside the overall one.
  std::map<std::pair<std::string, int>, std::unique_ptr<scoring::Accumulator>> subsets;
  std::vector<scoring::SampleRecord> records;
  std::vector<protocol::BadImage> bad_images;  // the first kMaxBadImagesListed
  int64_t bad_image_count = 0;
  Status failed;
  SteadyClock::time_point start;
};

// One pass: the union of the files of datasets with the same preprocessing.
struct Pass {
  imaging::PreprocessConfig preprocess;
  bool fast_jpeg = false;
  std::vector<size_t> datasets;  // indices into the runs
  std::vector<FeedItem> items;   // sorted by path
  // For each item, the (dataset run, position in its manifest) pairs it feeds.
  std::vector<std::vector<std::pair<size_t, size_t>>> targets;
};

std::string Hostname() {
  char name[256] = {0};
  if (::gethostname(name, sizeof(name) - 1) != 0) return "unknown";
  return name;
}

double Seconds(SteadyClock::duration d) { return std::chrono::duration<double>(d).count(); }

StatusOr<imaging::PreprocessConfig> PreprocessFor(const EvalConfig& config,
                                                  const datasets::Protocol& protocol) {
  imaging::PreprocessConfig p;
  p.img_size = config.img_size;
  p.crop_pct = config.crop_pct;
  TW_ASSIGN_OR_RETURN(p.interpolation, imaging::ParseInterpolation(config.interpolation));
  p.mean.assign(config.mean.begin(), config.mean.end());
  p.std.assign(config.std.begin(), config.std.end());
  p.channels = config.channels;
  p.resize_and_crop = protocol.resize_and_crop;
  TW_RETURN_IF_ERROR(imaging::ValidatePreprocessConfig(p));
  return p;
}

// Datasets whose images are prepared the same way share a pass.
std::string PassKey(const EvalConfig& c, bool resize_and_crop) {
  return PreprocessingJson(c) + (c.fast_jpeg ? "+fast_jpeg" : "") +
         (resize_and_crop ? "" : "+no_resize");
}

StatusOr<datasets::Manifest> LoadManifest(const JobDataset& d) {
  TW_ASSIGN_OR_RETURN(std::string text, ReadFileToString(d.manifest_path, kMaxManifestBytes));
  if (Sha256Hex(text) != d.manifest_sha256) {
    return DataLossError(d.manifest_path + " is not the manifest " + d.manifest_sha256);
  }
  return datasets::ManifestFromJson(text, d.manifest_path);
}

// Copies `path` into `copy` (mode 0600) while hashing it, and checks the hash: the bytes that
// are loaded are exactly the bytes that were hashed, even if the original is rewritten meanwhile.
Status CopyVerified(const std::string& path, const std::string& expected, const char* what,
                    const std::string& copy) {
  int in = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
  if (in < 0) return ErrnoToStatus(errno, std::string("cannot open ") + what + " " + path);
  int out = ::open(copy.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
  if (out < 0) {
    int err = errno;
    ::close(in);
    return ErrnoToStatus(err, "cannot create " + copy);
  }
  Sha256Hasher hasher;
  std::vector<char> buffer(1 << 20);
  Status status;
  while (true) {
    ssize_t n = ::read(in, buffer.data(), buffer.size());
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) {
      status = ErrnoToStatus(errno, std::string("cannot read ") + what + " " + path);
      break;
    }
    if (n == 0) break;
    hasher.Update(buffer.data(), static_cast<size_t>(n));
    for (ssize_t done = 0; done < n;) {
      ssize_t w = ::write(out, buffer.data() + done, static_cast<size_t>(n - done));
      if (w < 0 && errno == EINTR) continue;
      if (w < 0) {
        status = ErrnoToStatus(errno, "cannot write " + copy);
        break;
      }
      done += w;
    }
    if (!status.ok()) break;
  }
  ::close(in);
  if (::close(out) != 0 && status.ok()) status = ErrnoToStatus(errno, "cannot write " + copy);
  TW_RETURN_IF_ERROR(status);
  std::string actual = hasher.FinishHex();
  if (actual != expected) {
    return DataLossError(std::string(what) + " " + path + " changed since it was hashed (sha256 " +
                         actual.substr(0, 12) + ", expected " + expected.substr(0, 12) + ")");
  }
  return OkStatus();
}

// A private temporary folder, removed with its contents on destruction.
struct PrivateDir {
  std::string path;
  ~PrivateDir() {
    if (!path.empty()) {
      std::error_code ec;
      std::filesystem::remove_all(path, ec);
    }
  }
};

class JobRunner {
 public:
  JobRunner(const Job& job, const EventSink& emit) : job_(job), emit_(emit) {}

  int Run() {
    start_ = SteadyClock::now();
    start_wall_ = std::chrono::system_clock::now();
    const EvalConfig& first = job_.datasets.front().eval_config;
    for (const auto& d : job_.datasets) {
      // One model, one forward configuration per job.
      if (d.eval_config.batch_size != first.batch_size || d.eval_config.dtype != first.dtype ||
          d.eval_config.device != first.device) {
        return Fail(std::nullopt,
                    InvalidArgumentError("datasets of one job must share batch_size, dtype and "
                                         "device; " +
                                         d.name + " differs from " + job_.datasets.front().name),
                    protocol::kEvaluatorExitBadJob);
      }
    }
    int threads = job_.threads > 0
                      ? job_.threads
                      : static_cast<int>(std::max(1u, std::thread::hardware_concurrency()));
    // LibTorch here defaults to one intra-op thread (platform notes): always set it.
    at::set_num_threads(threads);

    if (job_.evaluator_version != kEvaluatorVersion) {
      // The job's evaluation keys name another evaluator: its results would be recorded under
      // the wrong version.
      return Fail(std::nullopt,
                  FailedPreconditionError("this is " + std::string(kEvaluatorVersion) +
                                          "; the job was planned for " + job_.evaluator_version +
                                          " (transferwatch and transferwatch-eval come from "
                                          "different builds)"),
                  protocol::kEvaluatorExitBadJob);
    }
    // The model is loaded from private copies made while hashing (see CopyVerified).
    PrivateDir scratch;
    {
      const char* tmp = std::getenv("TMPDIR");
      std::string pattern =
          std::string(tmp != nullptr && *tmp == '/' ? tmp : "/tmp") + "/tw-eval-model-XXXXXX";
      if (::mkdtemp(pattern.data()) == nullptr) {
        return Fail(std::nullopt, ErrnoToStatus(errno, "cannot create " + pattern),
                    protocol::kEvaluatorExitInternal);
      }
      scratch.path = pattern;
    }
    std::string checkpoint = scratch.path + "/checkpoint";
    std::optional<std::string> arch;
    Status checked =
        CopyVerified(job_.checkpoint_path, job_.checkpoint_sha256, "checkpoint", checkpoint);
    if (checked.ok() && job_.arch_path) {
      arch = scratch.path + "/arch";
      checked = CopyVerified(*job_.arch_path, *job_.arch_sha256, "architecture file", *arch);
    }
    if (!checked.ok()) return Fail(std::nullopt, checked, protocol::kEvaluatorExitBadCheckpoint);
    LoadOptions load;
    load.device = first.device;
    load.dtype = first.dtype;
    auto model = LoadCheckpoint(checkpoint, arch, load);
    if (!model.ok()) {
      // Messages name the private copy; say which file the user gave.
      std::string message = model.status().message();
      for (auto [from, to] : {std::pair<std::string, std::string>{checkpoint, job_.checkpoint_path},
                              {arch.value_or("\x01"), job_.arch_path.value_or("")}}) {
        for (size_t at = message.find(from); at != std::string::npos; at = message.find(from, at)) {
          message.replace(at, from.size(), to);
          at += to.size();
        }
      }
      return Fail(std::nullopt, Status(model.status().code(), message),
                  protocol::kEvaluatorExitBadCheckpoint);
    }
    model_ = std::move(*model);

    Status prepared = Prepare();
    if (!prepared.ok()) return Fail(std::nullopt, prepared, protocol::kEvaluatorExitBadJob);
    EmitStart(threads);
    // Each pass's results are reported as soon as it ends: a crash in a later pass (another
    // preprocessing) loses only that pass.
    bool all_ok = true;
    for (auto& pass : passes_) {
      int code = RunPass(pass);
      if (code != protocol::kEvaluatorExitOk) return code;
      for (size_t d : pass.datasets) {
        DatasetRun& run = runs_[d];
        Status status = run.failed.ok() ? Finish(run) : run.failed;
        if (!status.ok()) {
          all_ok = false;
          emit_(protocol::ErrorEventJson(run.job->name, status));
        }
      }
    }
    EmitDone(threads);
    return all_ok ? protocol::kEvaluatorExitOk : protocol::kEvaluatorExitDatasetFailed;
  }

 private:
  int Fail(const std::optional<std::string>& dataset, const Status& status, int code) {
    emit_(protocol::ErrorEventJson(dataset, status));
    return code;
  }

  Status Prepare() {
    if (job_.normaliser_path) {
      TW_ASSIGN_OR_RETURN(std::string text, ReadFileToString(*job_.normaliser_path, 1 << 20));
      TW_ASSIGN_OR_RETURN(normaliser_, scoring::ParseAlexNetTable(text, *job_.normaliser_path));
    }
    runs_.resize(job_.datasets.size());
    std::map<std::string, size_t> pass_by_key;
    for (size_t i = 0; i < job_.datasets.size(); ++i) {
      DatasetRun& run = runs_[i];
      run.job = &job_.datasets[i];
      TW_ASSIGN_OR_RETURN(run.manifest, LoadManifest(*run.job));
      scoring::Protocol protocol;
      protocol.model_classes = run.manifest.protocol.model_classes;
      protocol.subset = run.manifest.protocol.subset;
      protocol.multi_label = run.manifest.protocol.multi_label;
      TW_RETURN_IF_ERROR(scoring::ValidateProtocol(protocol).WithContext(run.job->name));
      run.accumulator = std::make_unique<scoring::Accumulator>(protocol);
      if (run.manifest.layout == datasets::Layout::kCorruptionSuite) {
        for (const auto& f : run.manifest.files) {
          auto key = std::make_pair(f.corruption, f.severity);
          if (!run.subsets.count(key)) {
            run.subsets[key] = std::make_unique<scoring::Accumulator>(protocol);
          }
        }
      }
      run.records.resize(run.manifest.files.size());
      std::string key = PassKey(run.job->eval_config, run.manifest.protocol.resize_and_crop);
      auto [it, inserted] = pass_by_key.emplace(key, passes_.size());
      if (inserted) {
        Pass pass;
        TW_ASSIGN_OR_RETURN(pass.preprocess,
                            PreprocessFor(run.job->eval_config, run.manifest.protocol));
        pass.fast_jpeg = run.job->eval_config.fast_jpeg;
        passes_.push_back(std::move(pass));
      }
      passes_[it->second].datasets.push_back(i);
    }
    // The union of each pass's files, by absolute path: an image shared by ImageNet val, ReaL
    // and the clean subsets is read, decoded and run once.
    for (auto& pass : passes_) {
      std::map<std::string, size_t> index;
      std::vector<std::pair<std::string, std::string>> paths;  // path, sha256
      for (size_t d : pass.datasets) {
        const auto& run = runs_[d];
        for (const auto& f : run.manifest.files) {
          std::string path = run.job->root + "/" + f.path;
          if (index.emplace(path, 0).second) paths.emplace_back(path, f.sha256);
        }
      }
      std::sort(paths.begin(), paths.end());
      for (size_t i = 0; i < paths.size(); ++i) {
        index[paths[i].first] = i;
        pass.items.push_back(FeedItem{paths[i].first, job_.verify_files ? paths[i].second : ""});
      }
      pass.targets.resize(pass.items.size());
      for (size_t d : pass.datasets) {
        auto& run = runs_[d];
        for (size_t p = 0; p < run.manifest.files.size(); ++p) {
          const auto& f = run.manifest.files[p];
          size_t item = index.at(run.job->root + "/" + f.path);
          if (job_.verify_files && pass.items[item].sha256 != f.sha256) {
            run.failed = InvalidArgumentError(
                pass.items[item].path + " has another SHA-256 in " + run.job->name +
                "'s manifest than in another dataset's: re-register one of them");
            break;
          }
          pass.targets[item].emplace_back(d, p);
        }
      }
    }
    return OkStatus();
  }

  int RunPass(Pass& pass) {
    FeederOptions options;
    options.decode_threads = job_.decode_threads;
    options.batch_size = job_.datasets.front().eval_config.batch_size;
    options.decode.channels = pass.preprocess.channels;
    options.decode.max_pixels = job_.max_pixels;
    if (pass.fast_jpeg) options.decode.dct_scale_min_side = imaging::ScaleSize(pass.preprocess);
    options.preprocess = pass.preprocess;
    for (size_t d : pass.datasets) runs_[d].start = SteadyClock::now();
    BatchFeeder feeder(std::move(pass.items), options);
    const auto& p = pass.preprocess;
    auto last_progress = SteadyClock::now();
    while (auto batch = feeder.Next()) {
      at::Tensor logits;
      try {
        // Always the full batch shape (a short last batch is padded with zeros): kernels are
        // chosen by shape, so a fixed shape keeps every image's logits independent of which
        // images share its batch — and so of which other datasets share the pass.
        at::Tensor input =
            torch::from_blob(const_cast<float*>(batch->data),
                             {batch->capacity, p.channels, p.img_size, p.img_size}, torch::kFloat);
        auto output = Forward(model_, input);
        if (!output.ok()) {
          return Fail(std::nullopt, output.status(), protocol::kEvaluatorExitBadCheckpoint);
        }
        logits = output->to(torch::kFloat).contiguous().cpu();
      } catch (const std::exception& e) {
        return Fail(std::nullopt, InternalError(std::string("forward: ") + e.what()),
                    protocol::kEvaluatorExitInternal);
      }
      const int64_t width = logits.size(1);
      const float* rows = logits.data_ptr<float>();
      for (int i = 0; i < batch->count; ++i) {
        size_t item = static_cast<size_t>(batch->first_item + i);
        Score(pass, feeder.item(item).path, item, batch->item_status[static_cast<size_t>(i)],
              rows + i * width, width);
      }
      feeder.Release();
      images_done_ += batch->count;
      auto now = SteadyClock::now();
      if (now - last_progress >= std::chrono::seconds(1) || images_done_ == images_total_) {
        last_progress = now;
        EmitProgress(feeder.wait_seconds() + wait_before_);
      }
    }
    wait_before_ += feeder.wait_seconds();
    return protocol::kEvaluatorExitOk;
  }

  void Score(Pass& pass, const std::string& path, size_t item, const Status& status,
             const float* row, int64_t width) {
    for (const auto& [d, position] : pass.targets[item]) {
      DatasetRun& run = runs_[d];
      if (!run.failed.ok()) continue;
      const auto& file = run.manifest.files[position];
      if (!status.ok()) {
        if (!job_.skip_bad_images) {
          run.failed = status;
          continue;
        }
        scoring::SampleRecord excluded;
        excluded.top5.fill(-1);
        excluded.excluded = true;
        run.records[position] = excluded;
        ++run.bad_image_count;
        if (run.bad_images.size() < protocol::kMaxBadImagesListed) {
          // The reason without the path it starts with: the path is beside it.
          std::string reason = status.message();
          std::string prefix = path + ": ";
          if (reason.rfind(prefix, 0) == 0) reason.erase(0, prefix.size());
          run.bad_images.push_back(protocol::BadImage{file.path, reason});
        }
        continue;
      }
      if (width != run.manifest.protocol.model_classes) {
        run.failed =
            InvalidArgumentError(job_.checkpoint_path + ": the model outputs " +
                                 std::to_string(width) + " classes, but " + run.job->name +
                                 " has " + std::to_string(run.manifest.protocol.model_classes));
        continue;
      }
      auto record = run.accumulator->Add(row, file.labels);
      if (!record.ok()) {
        run.failed = record.status().WithContext(path);
        continue;
      }
      run.records[position] = *record;
      if (!run.subsets.empty()) {
        auto subset = run.subsets.at({file.corruption, file.severity})->Add(row, file.labels);
        if (!subset.ok()) run.failed = subset.status().WithContext(path);
      }
    }
  }

  Status Finish(DatasetRun& run) {
    scoring::Metrics metrics = run.accumulator->Finish();
    protocol::DatasetResult result;
    result.dataset = run.job->name;
    result.evaluation_key = run.job->evaluation_key;
    result.n = metrics.n;
    result.excluded = metrics.excluded;
    result.top1 = metrics.top1;
    result.top5 = metrics.top5;
    result.nll = metrics.nll;
    result.ece = metrics.ece;
    Json per_class = Json::array();
    for (const auto& a : metrics.per_class_accuracy)
      per_class.push_back(a ? Json(*a) : Json(nullptr));
    result.per_class_json = per_class.dump();
    if (!run.subsets.empty()) {
      std::vector<scoring::SubsetResult> subsets;
      for (const auto& [key, accumulator] : run.subsets) {
        subsets.push_back(scoring::SubsetResult{key.first, key.second, accumulator->Finish().top1});
        result.corruption_subsets.push_back(
            protocol::CorruptionSubset{key.first, key.second, subsets.back().top1});
      }
      TW_ASSIGN_OR_RETURN(scoring::CorruptionSummary summary,
                          scoring::SummarizeCorruption(subsets, normaliser_, std::nullopt));
      Json ce = Json::object();
      for (const auto& [name, value] : summary.ce) ce[name] = value ? Json(*value) : Json(nullptr);
      Json corruption = {
          {"ce", ce},
          {"mce", summary.mce ? Json(*summary.mce) : Json(nullptr)},
          {"relative_mce", summary.relative_mce ? Json(*summary.relative_mce) : Json(nullptr)},
          {"normaliser", job_.normaliser_path ? Json(*job_.normaliser_path) : Json(nullptr)}};
      result.corruption_json = corruption.dump();
    }
    std::string encoded = scoring::EncodeRecords(run.records);
    TW_RETURN_IF_ERROR(WriteFileAtomic(run.job->records_path, encoded, 0644));
    result.records_path = run.job->records_path;
    result.records_count = static_cast<int64_t>(run.records.size());
    result.records_digest = scoring::RecordsDigest(encoded);
    result.bad_images = run.bad_images;
    result.bad_image_count = run.bad_image_count;
    result.wall_s = Seconds(SteadyClock::now() - run.start);
    emit_(protocol::ResultEventJson(result));
    return OkStatus();
  }

  Json Provenance(int threads) const {
    const EvalConfig& config = job_.datasets.front().eval_config;
    return {{"evaluator", std::string("transferwatch-eval ") + kVersion},
            {"code_version", kGitDescribe},
            {"libtorch", TORCH_VERSION},
            {"device", config.device},
            {"dtype", config.dtype},
            {"batch_size", config.batch_size},
            {"threads", threads},
            {"decode_threads", job_.decode_threads},
            {"host", Hostname()},
            {"model",
             {{"format", CheckpointFormatName(model_.format)},
              {"optimized", model_.optimized},
              {"parameters", model_.parameters},
              {"notes", model_.notes}}}};
  }

  void EmitStart(int threads) {
    images_total_ = 0;
    Json passes = Json::array();
    for (const auto& pass : passes_) {
      Json names = Json::array();
      for (size_t d : pass.datasets) names.push_back(runs_[d].job->name);
      passes.push_back({{"datasets", names}, {"images", pass.targets.size()}});
      images_total_ += static_cast<int64_t>(pass.targets.size());
    }
    Json start = Provenance(threads);
    start["event"] = "start";
    start["started_at"] = FormatIso8601Utc(start_wall_);
    start["passes"] = passes;
    start["images"] = images_total_;
    emit_(start.dump(-1, ' ', false, Json::error_handler_t::replace));
  }

  void EmitProgress(double waited) {
    protocol::Progress p;
    p.done = images_done_;
    p.total = images_total_;
    double elapsed = Seconds(SteadyClock::now() - start_);
    p.images_per_s = elapsed > 0 ? static_cast<double>(images_done_) / elapsed : 0;
    p.eta_s =
        p.images_per_s > 0 ? static_cast<double>(images_total_ - images_done_) / p.images_per_s : 0;
    p.model_wait_fraction = elapsed > 0 ? waited / elapsed : 0;
    emit_(protocol::ProgressEventJson(p));
  }

  void EmitDone(int threads) {
    double wall = Seconds(SteadyClock::now() - start_);
    Json done = Provenance(threads);
    done["event"] = "done";
    done["started_at"] = FormatIso8601Utc(start_wall_);
    done["ended_at"] = FormatIso8601Utc(std::chrono::system_clock::now());
    done["wall_s"] = wall;
    done["images"] = images_done_;
    done["images_per_s"] = wall > 0 ? static_cast<double>(images_done_) / wall : 0;
    done["model_wait_fraction"] = wall > 0 ? wait_before_ / wall : 0;
    emit_(done.dump(-1, ' ', false, Json::error_handler_t::replace));
  }

  const Job& job_;
  const EventSink& emit_;
  LoadedModel model_;
  scoring::AlexNetErrors normaliser_;
  std::vector<DatasetRun> runs_;
  std::vector<Pass> passes_;
  int64_t images_total_ = 0;
  int64_t images_done_ = 0;
  double wait_before_ = 0;
  SteadyClock::time_point start_;
  std::chrono::system_clock::time_point start_wall_;
};

}  // namespace

int RunJob(const protocol::Job& job, const EventSink& emit) {
  try {
    return JobRunner(job, emit).Run();
  } catch (const std::exception& e) {
    emit(protocol::ErrorEventJson(std::nullopt, InternalError(e.what())));
    return protocol::kEvaluatorExitInternal;
  }
}

}  // namespace tw::eval
