#include "cli/rescore_command.h"

#include <algorithm>
#include <chrono>
#include <map>
#include <nlohmann/json.hpp>
#include <tuple>
#include <unordered_map>

#include "common/process.h"
#include "common/time_util.h"
#include "common/version.h"
#include "datasets/manifest.h"
#include "protocol/eval_config.h"
#include "runner/plan.h"
#include "scoring/records.h"
#include "scoring/rescore.h"
#include "store/checkpoint_name.h"

namespace tw::cli {
namespace {

using Json = nlohmann::json;

// How many missing files an error names.
constexpr size_t kMissingListed = 5;

scoring::Protocol ScoringProtocol(const datasets::Protocol& p) {
  scoring::Protocol out;
  out.model_classes = p.model_classes;
  out.subset = p.subset;
  out.multi_label = p.multi_label;
  return out;
}

std::string ConfigSummary(std::optional<int> img_size, std::optional<double> crop_pct,
                          const std::optional<std::string>& interpolation,
                          const std::string& sha256) {
  return "img_size " + (img_size ? std::to_string(*img_size) : std::string("?")) + ", crop_pct " +
         (crop_pct ? CellText(Json(*crop_pct), -1, true) : std::string("?")) + ", " +
         interpolation.value_or("?") + "; config " + sha256.substr(0, 12);
}

// A stored evaluation of the checkpoint that could be the source.
struct Candidate {
  ResultRow row;
  StoredPredictions predictions;
  const datasets::Manifest* manifest = nullptr;
  int covered = 0;  // target files whose image it has a prediction for
  bool on_reference = false;
};

std::string Name(const Candidate& c) {
  return c.row.dataset + " (evaluation " + std::to_string(c.row.evaluation_id) + ")";
}

// The evaluator version the source's key was computed with: the running evaluator's, or the
// one its provenance names. nullopt when no candidate reproduces the stored key (then the
// result gets a key of its own, derived from the source's).
std::optional<std::string> SourceEvaluatorVersion(const Candidate& source,
                                                  const std::string& checkpoint_sha256) {
  std::vector<std::string> versions = {kEvaluatorVersion};
  Json provenance = Json::parse(source.row.provenance_json, nullptr, false);
  if (provenance.is_object()) {
    if (auto v = provenance.find("evaluator_version"); v != provenance.end() && v->is_string()) {
      versions.push_back(v->get<std::string>());
    }
    // transferwatch-eval's start event: "evaluator": "transferwatch-eval 0.1.0", "libtorch".
    auto evaluator = provenance.find("evaluator");
    auto libtorch = provenance.find("libtorch");
    if (evaluator != provenance.end() && evaluator->is_string() && libtorch != provenance.end() &&
        libtorch->is_string()) {
      std::string name = evaluator->get<std::string>();
      std::replace(name.begin(), name.end(), ' ', '/');
      versions.push_back(name + " libtorch/" + libtorch->get<std::string>());
    }
  }
  for (const auto& version : versions) {
    auto key = EvaluatorEvaluationKey(checkpoint_sha256, source.predictions.arch_sha256,
                                      source.row.dataset, source.predictions.manifest_sha256,
                                      source.row.eval_config_sha256, version);
    if (key.ok() && *key == source.predictions.evaluation_key) return version;
  }
  return std::nullopt;
}

void Print(CommandContext& ctx, const std::string& checkpoint, const std::string& dataset,
           const Candidate& source, double top1, std::optional<double> top5, int64_t n,
           int64_t excluded, const std::string& key, const std::string& digest, bool cached,
           int total_files) {
  bool table = ctx.format == OutputFormat::kTable;
  if (table) {
    ctx.out << "checkpoint " << checkpoint << "\n"
            << (cached ? "already recorded; " : "") << "rescored from evaluation "
            << source.row.evaluation_id << " on " << source.row.dataset << " (" << source.covered
            << " of " << total_files << " files matched by SHA-256)\n";
  }
  Listing listing;
  listing.list_name = "evaluations";
  listing.columns = {{"dataset", "dataset"},
                     {"top1", "top1", 3},
                     {"top5", "top5", 3},
                     {"n", "n"},
                     {"excluded", "excluded"},
                     {"evaluation_key", "key"},
                     {"predictions_digest", "predictions"},
                     {"rescored_from", "from evaluation"},
                     {"source_dataset", "from dataset"},
                     {"cached", "cached"}};
  listing.rows.push_back({dataset, top1, top5 ? Json(*top5) : Json(nullptr), n, excluded,
                          table ? key.substr(0, 12) : key, table ? digest.substr(0, 12) : digest,
                          source.row.evaluation_id, source.row.dataset, cached});
  ctx.out << RenderListing(listing, ctx.format);
}

}  // namespace

Status Rescore(CommandContext& ctx, const RescoreOptions& options) {
  const auto started = std::chrono::system_clock::now();
  const auto clock_start = std::chrono::steady_clock::now();
  TW_ASSIGN_OR_RETURN(ResolvedCheckpoint resolved,
                      ResolveCheckpoint(ctx.store, options.checkpoint));
  const CheckpointInfo& checkpoint = resolved.checkpoint;
  if (!checkpoint.sha256) {
    return FailedPreconditionError(checkpoint.display_name +
                                   " is an imported model: published results have no per-sample "
                                   "predictions to rescore");
  }

  // The target: its current version, manifest and the config `eval` would use by default.
  TW_ASSIGN_OR_RETURN(runner::PlannedDataset planned,
                      runner::PlanDataset(ctx.store, options.dataset, nullptr));
  const std::string& target = planned.dataset;
  if (planned.suite) {
    return FailedPreconditionError(target +
                                   " is a corruption suite (images used without resize or crop, "
                                   "scored per corruption and severity): evaluate it instead");
  }
  TW_ASSIGN_OR_RETURN(std::string target_text,
                      ctx.store.GetManifest(planned.version.manifest_sha256));
  TW_ASSIGN_OR_RETURN(datasets::Manifest target_manifest,
                      datasets::ManifestFromJson(target_text, target + "'s manifest"));
  const scoring::Protocol target_protocol = ScoringProtocol(target_manifest.protocol);
  // The target's own protocol settles the single-label refusal before any source is read.
  if (!target_protocol.multi_label) {
    return scoring::CheckRescorable(target_protocol, target_protocol)
        .WithContext("cannot rescore " + target);
  }

  // Every stored evaluator result of the checkpoint with per-sample predictions, but the
  // target's own on this manifest (its earlier rescore, or a real evaluation).
  ResultQuery query;
  query.checkpoint_id = checkpoint.id;
  TW_ASSIGN_OR_RETURN(std::vector<ResultRow> rows, ctx.store.QueryResults(query));
  std::map<std::string, datasets::Manifest> manifests;
  std::vector<Candidate> with_predictions;
  for (auto& row : rows) {
    if (row.source != "evaluator") continue;
    auto predictions = ctx.store.GetPredictions(row.evaluation_id);
    if (predictions.status().code() == StatusCode::kNotFound) continue;
    TW_RETURN_IF_ERROR(predictions.status());
    if (row.dataset == target && predictions->manifest_sha256 == planned.version.manifest_sha256) {
      continue;
    }
    Candidate c;
    c.row = std::move(row);
    c.predictions = std::move(*predictions);
    with_predictions.push_back(std::move(c));
  }
  if (with_predictions.empty()) {
    return NotFoundError(checkpoint.display_name +
                         " has no stored evaluation with per-sample predictions to rescore " +
                         target + " from; evaluate it: transferwatch eval FILE --dataset " +
                         target);
  }

  // Same preprocessing, or the predictions are not the ones the target would get.
  const std::string& config_sha256 = planned.config_hash.sha256;
  std::vector<Candidate> same_config;
  std::string other_configs;
  for (auto& c : with_predictions) {
    if (c.row.eval_config_sha256 == config_sha256) {
      same_config.push_back(std::move(c));
    } else {
      other_configs += (other_configs.empty() ? "" : "; ") + Name(c) + ": " +
                       ConfigSummary(c.row.img_size, c.row.crop_pct, c.row.interpolation,
                                     c.row.eval_config_sha256);
    }
  }
  if (same_config.empty()) {
    return FailedPreconditionError(
        "cannot rescore " + target + ": its default eval config (" +
        ConfigSummary(planned.config.img_size, planned.config.crop_pct,
                      planned.config.interpolation, config_sha256) +
        ") is not the config of any stored evaluation of " + checkpoint.display_name + " (" +
        other_configs +
        "); predictions made with other preprocessing are not the target's, so evaluate it");
  }

  // Coverage by SHA-256, and the protocol each source's records were made under.
  std::vector<Candidate> usable;
  std::string refused;
  for (auto& c : same_config) {
    auto it = manifests.find(c.predictions.manifest_sha256);
    if (it == manifests.end()) {
      TW_ASSIGN_OR_RETURN(std::string text, ctx.store.GetManifest(c.predictions.manifest_sha256));
      TW_ASSIGN_OR_RETURN(datasets::Manifest m,
                          datasets::ManifestFromJson(text, c.row.dataset + "'s manifest"));
      it = manifests.emplace(c.predictions.manifest_sha256, std::move(m)).first;
    }
    c.manifest = &it->second;
    if (c.manifest->layout == datasets::Layout::kCorruptionSuite) continue;
    Status rescorable =
        scoring::CheckRescorable(ScoringProtocol(c.manifest->protocol), target_protocol);
    if (!rescorable.ok()) {
      refused += (refused.empty() ? "" : "; ") + Name(c) + ": " + rescorable.message();
      continue;
    }
    std::unordered_map<std::string, int> have;
    for (const auto& f : c.manifest->files) have.emplace(f.sha256, 0);
    for (const auto& f : target_manifest.files) c.covered += have.count(f.sha256) ? 1 : 0;
    c.on_reference = planned.reference && c.row.dataset == *planned.reference;
    if (c.covered > 0) usable.push_back(std::move(c));
  }
  if (usable.empty()) {
    if (!refused.empty())
      return FailedPreconditionError("cannot rescore " + target + ": " + refused);
    return FailedPreconditionError("cannot rescore " + target + ": no stored evaluation of " +
                                   checkpoint.display_name + " with its eval config has any of " +
                                   "its images (files are matched by SHA-256)");
  }
  const int total = static_cast<int>(target_manifest.files.size());
  auto rank = [&](const Candidate& c) {
    return std::make_tuple(c.covered == total, c.on_reference, c.covered, c.row.evaluation_id);
  };
  const Candidate& source =
      *std::max_element(usable.begin(), usable.end(),
                        [&](const Candidate& a, const Candidate& b) { return rank(a) < rank(b); });
  if (source.covered < total) {
    std::unordered_map<std::string, int> have;
    for (const auto& f : source.manifest->files) have.emplace(f.sha256, 0);
    std::string listed;
    size_t named = 0;
    for (const auto& f : target_manifest.files) {
      if (have.count(f.sha256) || named == kMissingListed) continue;
      listed += (named++ ? ", " : "") + f.path;
    }
    int missing = total - source.covered;
    return FailedPreconditionError(
        "cannot rescore " + target + ": " + std::to_string(missing) + " of its " +
        std::to_string(total) + " files are not in the stored predictions of " + Name(source) +
        " (matched by SHA-256), e.g. " + listed +
        (missing > static_cast<int>(named) ? ", ..." : "") + "; evaluate it instead");
  }

  // The key `eval` would give the target under the source's evaluator version.
  std::optional<std::string> evaluator_version = SourceEvaluatorVersion(source, *checkpoint.sha256);
  TW_ASSIGN_OR_RETURN(
      std::string key,
      EvaluatorEvaluationKey(
          *checkpoint.sha256, source.predictions.arch_sha256, target,
          planned.version.manifest_sha256, config_sha256,
          evaluator_version.value_or("rescored from " + source.predictions.evaluation_key)));
  TW_ASSIGN_OR_RETURN(std::optional<EvaluationSummary> stored, ctx.store.FindEvaluation(key));
  if (stored) {
    Json metrics = Json::parse(stored->metrics_json, nullptr, false);
    int64_t excluded = metrics.is_object() ? metrics.value("excluded", int64_t{0}) : 0;
    Print(ctx, checkpoint.display_name, target, source, stored->top1, stored->top5,
          stored->num_samples.value_or(0), excluded, key, stored->predictions_digest.value_or(""),
          /*cached=*/true, total);
    return OkStatus();
  }

  // Score: each target image's stored record, under the target's labels.
  if (scoring::RecordsDigest(source.predictions.data) != source.predictions.digest) {
    return DataLossError("the stored predictions of " + Name(source) +
                         " do not match their digest");
  }
  TW_ASSIGN_OR_RETURN(std::vector<scoring::SampleRecord> source_records,
                      scoring::DecodeRecords(source.predictions.data));
  if (source_records.size() != source.manifest->files.size()) {
    return DataLossError("the stored predictions of " + Name(source) + " have " +
                         std::to_string(source_records.size()) + " samples, its manifest " +
                         std::to_string(source.manifest->files.size()));
  }
  std::unordered_map<std::string, size_t> by_hash;
  for (size_t i = 0; i < source.manifest->files.size(); ++i) {
    by_hash.emplace(source.manifest->files[i].sha256, i);
  }
  std::vector<scoring::SampleRecord> matched;
  std::vector<std::vector<int>> labels;
  matched.reserve(total);
  labels.reserve(total);
  for (const auto& f : target_manifest.files) {
    matched.push_back(source_records[by_hash.at(f.sha256)]);
    labels.push_back(f.labels);
  }
  TW_ASSIGN_OR_RETURN(scoring::Rescored rescored,
                      scoring::RescoreMultiLabel(matched, labels, target_protocol));

  EvaluationRecord record;
  record.evaluation_key = key;
  record.checkpoint_id = checkpoint.id;
  record.dataset = target;
  record.manifest_sha256 = planned.version.manifest_sha256;
  record.arch_sha256 = source.predictions.arch_sha256;
  record.eval_config = planned.StoredConfig();
  record.top1 = rescored.metrics.top1;
  record.top5 = rescored.metrics.top5;
  record.num_samples = static_cast<int>(rescored.metrics.n);
  // As the evaluator records a multi-label result: no NLL, ECE or per-class accuracy.
  record.metrics_json =
      Json{{"excluded", rescored.metrics.excluded}, {"bad_images", rescored.bad_images}}.dump();
  record.per_class_json = "[]";
  record.predictions = scoring::EncodeRecords(rescored.records);
  record.predictions_digest = scoring::RecordsDigest(record.predictions);
  record.predictions_count = static_cast<int>(rescored.records.size());
  Json source_provenance = Json::parse(source.row.provenance_json, nullptr, false);
  Json provenance = {
      {"rescored_from",
       {{"evaluation_id", source.row.evaluation_id},
        {"evaluation_key", source.predictions.evaluation_key},
        {"dataset", source.row.dataset},
        {"manifest_sha256", source.predictions.manifest_sha256},
        {"predictions_digest", source.predictions.digest},
        {"files_matched_by", "sha256"}}},
      {"evaluator_version", evaluator_version ? Json(*evaluator_version) : Json(nullptr)},
      {"source_provenance", source_provenance.is_object() ? source_provenance : Json::object()},
      {"rescored_by", std::string("transferwatch ") + kVersion},
      {"code_version", kGitDescribe},
      {"host", LocalHostName()},
      {"dataset_version", planned.version.version},
      {"started_at", FormatIso8601Utc(started)},
      {"ended_at", FormatIso8601Utc(std::chrono::system_clock::now())},
      {"wall_s",
       std::chrono::duration<double>(std::chrono::steady_clock::now() - clock_start).count()}};
  record.provenance_json = provenance.dump(-1, ' ', false, Json::error_handler_t::replace);
  TW_RETURN_IF_ERROR(ctx.store.RecordEvaluation(record).status());
  Print(ctx, checkpoint.display_name, target, source, record.top1, record.top5, record.num_samples,
        rescored.metrics.excluded, key, record.predictions_digest, /*cached=*/false, total);
  return OkStatus();
}

}  // namespace tw::cli
