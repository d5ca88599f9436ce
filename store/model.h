// Plain structs that cross the store seam. No behaviour, no library types: JSON travels as
// text (canonical where it is hashed), times as system_clock time points.
#pragma once

#include <chrono>
#include <cstdint>
#include <optional>
#include <string>
#include <vector>

namespace tw {

using TimePoint = std::chrono::system_clock::time_point;

// ---- Imports ------------------------------------------------------------------------------

struct ImportedDataset {
  std::string name;
  std::optional<std::string> reference;  // name of its reference dataset, if any
  std::string protocol_json = "{}";      // canonical JSON object
};

struct ImportedModel {
  std::string name;                  // e.g. "resnet50.a1_in1k"
  std::string metadata_json = "{}";  // canonical JSON object: param_count_m, pretrain, ...
};

struct ImportedEvalConfig {
  std::string sha256;  // versioned hash of `canonical`
  int hash_version = 1;
  std::string canonical;  // canonical JSON text
};

struct ImportedEvaluation {
  std::string evaluation_key;
  std::string model;               // ImportedModel::name
  std::string dataset;             // ImportedDataset::name
  std::string eval_config_sha256;  // ImportedEvalConfig::sha256
  double top1 = 0;                 // percent
  std::optional<double> top5;      // percent
  std::string metrics_json = "{}";
  std::string provenance_json = "{}";
  std::string location;  // "results-imagenet.csv:17", for error messages
};

// Everything one import writes; applied in one transaction.
struct ImportBatch {
  std::string source;  // "timm"
  std::vector<ImportedDataset> datasets;
  std::vector<ImportedModel> models;
  std::vector<ImportedEvalConfig> eval_configs;
  std::vector<ImportedEvaluation> evaluations;
};

enum class ImportMode {
  kAddNew,         // an already recorded evaluation with different numbers fails the import
  kUpdateChanged,  // ... is overwritten with the new numbers and provenance
};

struct ImportResult {
  int datasets_created = 0;
  int models_created = 0;
  int eval_configs_created = 0;
  int evaluations_inserted = 0;
  int evaluations_updated = 0;
  int evaluations_unchanged = 0;
};

// ---- Queries ------------------------------------------------------------------------------

struct DatasetInfo {
  int64_t id = 0;
  std::string name;
  std::optional<std::string> reference;
  std::string protocol_json;
  std::optional<std::string> manifest_sha256;
  std::optional<int> num_samples;
  int64_t evaluations = 0;
  TimePoint created_at;
};

struct CheckpointInfo {
  int64_t id = 0;
  std::string origin;        // "file" | "import"
  std::string display_name;  // RUN/FILE for files, MODEL for imported models
  std::optional<std::string> run;
  std::string name;
  std::optional<std::string> sha256;
  std::optional<std::string> import_source;
  std::optional<int64_t> step;
  std::optional<double> epoch;  // from the file's sidecar, when it gave one
  std::optional<double> param_count_m;
  std::vector<int> img_sizes;  // distinct image sizes it was evaluated at
  int64_t evaluations = 0;
  TimePoint created_at;
};

struct CheckpointFilter {
  std::optional<std::string> origin;     // "file" | "import"
  std::optional<std::string> name_glob;  // matched against display_name
  std::optional<std::string> run_glob;
  std::optional<std::string> run;  // exactly this run (no glob characters to escape)
  std::optional<int64_t> limit;
};

// How a user names one checkpoint on the command line (see checkpoint_name.h).
struct CheckpointSelector {
  std::optional<std::string> sha256_prefix;  // >= 8 lowercase hex digits
  std::optional<std::string> run;            // RUN/FILE
  std::optional<std::string> file;
  std::optional<std::string> model;  // MODEL[@IMG_SIZE]
  std::optional<int> img_size;
};

enum class SortOrder { kDefault, kBestFirst, kWorstFirst };

struct ResultQuery {
  std::optional<std::string> model_glob;  // glob over the checkpoint's display name
  std::vector<std::string> datasets;      // any of these; empty = all
  std::optional<std::string> run_glob;
  std::optional<TimePoint> since;
  std::optional<int64_t> checkpoint_id;
  std::optional<int> img_size;
  std::string sort_metric;  // "" = newest first; "top1", "top5" or a key of `metrics`
  SortOrder order = SortOrder::kDefault;
  std::optional<int64_t> limit;
};

struct ResultRow {
  int64_t evaluation_id = 0;
  int64_t checkpoint_id = 0;
  std::string checkpoint;  // display name
  std::string origin;
  std::optional<std::string> run;
  std::optional<std::string> sha256;
  std::string dataset;
  std::optional<int> img_size;
  std::optional<double> crop_pct;
  std::optional<std::string> interpolation;
  std::string eval_config_sha256;
  double top1 = 0;
  std::optional<double> top5;
  std::optional<double> sort_value;  // the --sort metric when it is not top1/top5
  std::optional<double> param_count_m;
  std::optional<double> nll;
  std::optional<double> ece;
  std::string metrics_json;  // further metrics (corruption summaries, excluded counts...)
  std::string source;
  std::string provenance_json;  // where the numbers came from
  TimePoint created_at;
};

// One (checkpoint, eval config) evaluated on both a variant and its reference.
struct PoolRow {
  int64_t checkpoint_id = 0;
  std::string checkpoint;  // display name
  std::optional<int> img_size;
  double reference = 0;            // percent
  double variant = 0;              // percent
  std::string origin;              // "file" or "import"
  std::optional<std::string> run;  // the run's name (files only)
};

// ---- Dataset registration ---------------------------------------------------------------

struct DatasetRegistration {
  std::string name;
  std::optional<std::string> reference;  // a registered dataset's name
  // Register the reference by name (without files) when it does not exist yet, as imports do:
  // a preset's reference (imagenet) may be added after its variant. An explicit --reference
  // must exist (a typo is not a new dataset).
  bool create_missing_reference = false;
  std::string protocol_json = "{}";  // canonical summary, shown by `dataset list`
  std::string manifest_canonical;    // the manifest document
  std::string manifest_sha256;
  std::string files_sha256;
  int num_files = 0;
  int64_t total_bytes = 0;
  std::string root;  // absolute folder of the files on this host
  std::string default_config_json = "{}";
};

enum class RegistrationOutcome {
  kCreated,     // a new dataset
  kNewVersion,  // the name existed with other content
  kUnchanged,   // the same manifest was registered already (root and defaults refreshed)
  kAttached,    // the name came from an import; it now has files
};

struct RegistrationResult {
  int64_t dataset_id = 0;
  int version = 0;
  RegistrationOutcome outcome = RegistrationOutcome::kCreated;
};

struct DatasetVersionInfo {
  int64_t dataset_id = 0;
  int64_t version_id = 0;  // tw.dataset_versions.id: what jobs refer to
  std::string name;
  std::optional<std::string> reference;
  int version = 0;
  std::string manifest_sha256;
  std::string files_sha256;
  int num_files = 0;
  int64_t total_bytes = 0;
  std::string root;
  std::string default_config_json;
  TimePoint created_at;
};

// ---- Evaluator results --------------------------------------------------------------------

struct CheckpointFileRegistration {
  std::string run;        // the run folder's name
  std::string file_name;  // the file's name inside the run
  std::string sha256;
  int64_t size_bytes = 0;
  std::optional<int64_t> step;
  std::string metadata_json = "{}";
  // Where the bytes are (absolute, on `host`): recorded so workers can find them.
  std::optional<std::string> path;
  std::string host;
  std::optional<int64_t> mtime_ns;    // the file's mtime when it was hashed
  std::optional<std::string> format;  // torchscript | state_dict | legacy, from the zip directory
};

struct EvaluationRecord {
  std::string evaluation_key;
  int64_t checkpoint_id = 0;
  std::string dataset;
  std::string manifest_sha256;
  std::optional<std::string> arch_sha256;
  ImportedEvalConfig eval_config;  // sha256, hash version, canonical text
  double top1 = 0;                 // percent
  std::optional<double> top5;
  int num_samples = 0;
  std::optional<double> nll;
  std::optional<double> ece;
  std::string metrics_json = "{}";
  std::optional<std::string> per_class_json;
  std::string provenance_json = "{}";
  std::string predictions;  // encoded per-sample records (scoring/records.h)
  std::string predictions_digest;
  int predictions_count = 0;
};

struct EvaluationSummary {
  int64_t id = 0;
  std::string evaluation_key;
  int64_t checkpoint_id = 0;
  std::string dataset;
  double top1 = 0;
  std::optional<double> top5;
  std::optional<int> num_samples;
  std::optional<double> nll;
  std::optional<double> ece;
  std::string metrics_json;
  std::optional<std::string> predictions_digest;
  TimePoint created_at;
};

struct StoredPredictions {
  std::string format;
  int num_samples = 0;
  std::string digest;
  std::string data;
  std::string manifest_sha256;
  // The evaluation they belong to: what its key was computed from (rescore derives a key).
  std::string evaluation_key;
  std::optional<std::string> arch_sha256;
};

struct StoreCounts {
  int64_t runs = 0;
  int64_t checkpoints = 0;
  int64_t datasets = 0;
  int64_t eval_configs = 0;
  int64_t evaluations = 0;
};

// ---- Transfer checks (paired comparisons between checkpoints) -----------------------------

// A checkpoint whose transfer checks are owed (Store::ListChecksDue).
struct ChecksDue {
  int64_t checkpoint_id = 0;
  std::string run;
  std::string display_name;  // RUN/FILE
  std::string sha256;
  std::optional<int64_t> step;
  int64_t due_micros = 0;  // the mark, microseconds since the epoch, as ClearChecksDue takes it
};

struct ChecksDueFilter {
  std::optional<int64_t> checkpoint_id;
  std::chrono::milliseconds older_than{0};  // marked at least this long ago
  int limit = 100;
};

// A checkpoint a new one is compared with, and why ("previous", "best", "baseline").
struct ReferenceCheckpoint {
  int64_t checkpoint_id = 0;
  std::string display_name;
  std::vector<std::string> kinds;
};

// An evaluator result of a checkpoint with per-sample predictions.
struct PairableEvaluation {
  int64_t evaluation_id = 0;
  int64_t dataset_id = 0;
  std::string dataset;
  std::optional<int64_t> reference_dataset_id;  // the dataset's reference (variants only)
  std::string manifest_sha256;
  std::string eval_config_sha256;
  double top1 = 0;
};

struct PairedNumbers {
  int n = 0;
  int only_new = 0;
  int only_old = 0;
  double delta = 0, ci_low = 0, ci_high = 0;  // percent points, new minus old
  double p = 1, p_mid = 1;
};

struct TransferCheckRow {
  int64_t checkpoint_id = 0;
  int64_t reference_checkpoint_id = 0;
  std::vector<std::string> reference_kinds;
  int64_t variant_dataset_id = 0;
  int64_t reference_dataset_id = 0;
  int64_t variant_evaluation_id = 0;
  int64_t variant_reference_evaluation_id = 0;
  std::string verdict;  // none | regression | no-transfer
  double alpha = 0.05, min_gain = 0.1;
  PairedNumbers reference, variant;
  double variant_p_holm = 1;
  int holm_family_size = 1;
};

struct OutboxEvent {
  std::string event_id;    // msg_...
  std::string event_type;  // regression | no-transfer | eval-failed | test
  std::string dedup_key;
  std::string payload_json;
};

struct TransferCheckInfo {
  int64_t id = 0;
  std::string checkpoint;            // RUN/FILE
  std::string reference_checkpoint;  // RUN/FILE
  std::vector<std::string> reference_kinds;
  std::string variant;
  std::string reference_dataset;
  std::string verdict;
  PairedNumbers reference, variant_numbers;
  double variant_p_holm = 1;
  int holm_family_size = 1;
  std::optional<TimePoint> acknowledged_at;
  TimePoint created_at;
};

struct FlagFilter {
  std::optional<std::string> run_glob;
  std::optional<std::string> verdict;  // regression | no-transfer; none: both
  std::optional<TimePoint> since;
  bool include_acknowledged = true;
  int64_t limit = 100;
};

// ---- Webhooks and deliveries ----------------------------------------------------------------

struct NewWebhook {
  std::string url;
  std::string format;                // slack | mattermost | discord | teams | generic
  std::vector<std::string> secrets;  // whsec_...; two during a rotation
  std::vector<std::string> events;   // regression | no-transfer | eval-failed | test
  bool allow_private_network = false;
};

struct WebhookInfo {
  int64_t id = 0;
  std::string url;
  std::string format;
  std::vector<std::string> secrets;
  std::vector<std::string> events;
  bool allow_private_network = false;
  TimePoint created_at;
};

// One event of a message: a delivery row (event x destination).
struct DueEvent {
  int64_t delivery_id = 0;
  std::string event_id;
  std::string event_type;
  std::string payload_json;
  TimePoint event_created_at;
};

// A message due now, claimed under a lease (any daemon may send it; one does): the due events
// of one destination that travel together. A message keeps its id and its events across
// retries; new events form a new message.
struct DueMessage {
  std::string message_id;  // the webhook-id: the event id for a single event, else derived
  int attempts = 0;        // made before this one
  WebhookInfo webhook;
  std::vector<DueEvent> events;  // at least one, oldest first
  // Events of this destination that were due but left for a later message because the
  // destination's rate limit was spent (they are coalesced when it frees).
};

// What a sender asks for when it claims messages.
struct MessageClaim {
  std::string lease_token;  // 32 lowercase hex digits
  TimePoint now;            // the sender's clock: due means next_attempt_at <= now
  std::chrono::milliseconds lease{60000};
  int max_messages = 16;
  // New events of one destination are coalesced into one message of at most this many.
  int max_events_per_message = 10;
  // Formats whose destinations get one event per message (machine consumers: "generic").
  std::vector<std::string> single_event_formats;
  // Per destination: at most this many distinct messages attempted in any 60 s (0: no limit).
  // Retries count; events over the limit stay due and are coalesced when it frees.
  int max_messages_per_minute = 0;
};

struct DeliveryUpdate {
  std::string state;  // delivered | pending (retry at next_attempt_at) | dead
  TimePoint now;      // when the attempt ended (delivered_at)
  TimePoint next_attempt_at;
  std::optional<int> last_status;
  std::optional<std::string> last_error;
};

struct DeliveryInfo {
  int64_t id = 0;
  int64_t webhook_id = 0;
  std::string event_id;
  std::optional<std::string> message_id;  // set at the first attempt
  std::string event_type;
  std::string state;
  int attempts = 0;
  TimePoint next_attempt_at;
  std::optional<int> last_status;
  std::optional<std::string> last_error;
  std::optional<TimePoint> delivered_at;
  TimePoint created_at;
};

}  // namespace tw
