// The contract between the programs that run evaluations (the CLI's `eval`, the daemon) and
// `transferwatch-eval`, the child process that does them. Documented in
// schemas/evaluator-protocol.md; this is its one implementation on both sides.
//
// In: a job file (JSON) naming the checkpoint and, per dataset, its manifest, root folder, eval
// config, evaluation key and where to write per-sample records.
// Out: JSON lines on stdout, one event each: start, progress, result (one per dataset), error,
// done; the exit code says how it ended (kEvaluatorExit*).
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "common/status.h"
#include "protocol/eval_config.h"

namespace tw::protocol {

inline constexpr int kJobVersion = 1;

struct JobDataset {
  std::string name;
  std::string root;             // absolute folder the manifest's relative paths are under
  std::string manifest_path;    // the manifest's canonical JSON, written by the caller
  std::string manifest_sha256;  // checked by the evaluator against the file
  EvalConfig eval_config;
  std::string eval_config_sha256;
  std::string evaluation_key;
  std::string records_path;  // where the evaluator writes the per-sample records
};

struct Job {
  // The evaluator version the evaluation keys were computed with (kEvaluatorVersion); the
  // evaluator refuses a job meant for another version.
  std::string evaluator_version;
  std::string checkpoint_path;
  std::string checkpoint_sha256;  // re-hashed by the evaluator before it loads anything
  std::optional<std::string> arch_path;
  std::optional<std::string> arch_sha256;
  int threads = 0;         // intra-op threads; 0 = one per core
  int decode_threads = 1;  // image decoding and preprocessing workers
  bool skip_bad_images = false;
  bool verify_files = true;  // compare each image's SHA-256 with the manifest while reading it
  uint64_t max_pixels = 178956970;
  std::optional<std::string> normaliser_path;  // AlexNet errors table for corruption suites
  std::vector<JobDataset> datasets;
};

StatusOr<std::string> JobToJson(const Job& job);
// Strict: unknown keys, wrong types, relative paths, bad hashes are InvalidArgument naming them.
StatusOr<Job> JobFromJson(std::string_view text, std::string_view source_name);

// Exit codes of transferwatch-eval.
inline constexpr int kEvaluatorExitOk = 0;
inline constexpr int kEvaluatorExitBadJob = 2;         // usage, unreadable or invalid job
inline constexpr int kEvaluatorExitBadCheckpoint = 3;  // not loadable, wrong hash, bad output
inline constexpr int kEvaluatorExitDatasetFailed = 4;  // one or more datasets failed (see errors)
inline constexpr int kEvaluatorExitInternal = 5;

// Result events list at most this many bad images (and count them all): a line stays small.
inline constexpr size_t kMaxBadImagesListed = 100;

struct BadImage {
  std::string path;
  std::string reason;
};

struct CorruptionSubset {
  std::string corruption;
  int severity = 0;
  double top1 = 0;
};

struct DatasetResult {
  std::string dataset;
  std::string evaluation_key;
  int64_t n = 0;  // samples scored
  int64_t excluded = 0;
  double top1 = 0;  // percent
  double top5 = 0;
  std::optional<double> nll;
  std::optional<double> ece;
  std::string per_class_json = "[]";  // percent per model class, null where no samples
  std::vector<CorruptionSubset> corruption_subsets;
  std::string corruption_json;  // {"ce": {...}, "mce": x, "relative_mce": y} or "" when none
  std::string records_path;
  int64_t records_count = 0;
  std::string records_digest;
  std::vector<BadImage> bad_images;  // the first kMaxBadImagesListed
  int64_t bad_image_count = 0;       // all of them
  double wall_s = 0;
};

struct Progress {
  int64_t done = 0;
  int64_t total = 0;
  double images_per_s = 0;
  double eta_s = 0;
  double model_wait_fraction = 0;  // share of the time the model waited for decoded images
};

struct Event {
  enum class Kind { kStart, kProgress, kResult, kError, kDone };
  Kind kind = Kind::kStart;
  std::string json;  // the line as received (start and done carry free-form provenance)
  Progress progress;
  DatasetResult result;
  std::optional<std::string> error_dataset;
  std::string error_code;  // a StatusCode name: INVALID_ARGUMENT, DATA_LOSS...
  std::string error_message;
};

// One stdout line of the evaluator -> an Event; InvalidArgument for anything malformed.
StatusOr<Event> ParseEventLine(std::string_view line);

std::string ProgressEventJson(const Progress& progress);
std::string ResultEventJson(const DatasetResult& result);
std::string ErrorEventJson(const std::optional<std::string>& dataset, const Status& status);

}  // namespace tw::protocol
