#include "protocol/evaluator_protocol.h"

#include <cmath>
#include <nlohmann/json.hpp>
#include <set>

#include "common/canonical_json.h"
#include "common/sha256.h"

namespace tw::protocol {
namespace {

using Json = nlohmann::json;

Json EvalConfigJson(const EvalConfig& c) {
  auto hashed = HashEvalConfig(c);
  return hashed.ok() ? Json::parse(hashed->canonical) : Json::object();
}

// Reads a JSON object's fields strictly: every key must be taken exactly once.
class Fields {
 public:
  Fields(const Json& object, std::string where) : object_(object), where_(std::move(where)) {}

  Status Check() const {
    if (!object_.is_object()) return InvalidArgumentError(where_ + " is not a JSON object");
    for (const auto& item : object_.items()) {
      if (!taken_.count(item.key())) {
        return InvalidArgumentError(where_ + ": unknown key \"" + item.key() + "\"");
      }
    }
    return OkStatus();
  }
  StatusOr<std::string> String(const std::string& key) {
    TW_ASSIGN_OR_RETURN(const Json* v, Get(key));
    if (!v->is_string()) return Wrong(key, "a string");
    return v->get<std::string>();
  }
  StatusOr<std::optional<std::string>> OptionalString(const std::string& key) {
    taken_.insert(key);
    auto it = object_.find(key);
    if (it == object_.end() || it->is_null()) return std::optional<std::string>();
    if (!it->is_string()) return Wrong(key, "a string or null");
    return std::optional<std::string>(it->get<std::string>());
  }
  StatusOr<int64_t> Int(const std::string& key) {
    TW_ASSIGN_OR_RETURN(const Json* v, Get(key));
    if (!v->is_number_integer()) return Wrong(key, "an integer");
    return v->get<int64_t>();
  }
  StatusOr<double> Number(const std::string& key) {
    TW_ASSIGN_OR_RETURN(const Json* v, Get(key));
    if (!v->is_number()) return Wrong(key, "a number");
    return v->get<double>();
  }
  StatusOr<std::optional<double>> OptionalNumber(const std::string& key) {
    taken_.insert(key);
    auto it = object_.find(key);
    if (it == object_.end() || it->is_null()) return std::optional<double>();
    if (!it->is_number()) return Wrong(key, "a number or null");
    return std::optional<double>(it->get<double>());
  }
  StatusOr<bool> Bool(const std::string& key) {
    TW_ASSIGN_OR_RETURN(const Json* v, Get(key));
    if (!v->is_boolean()) return Wrong(key, "true or false");
    return v->get<bool>();
  }
  StatusOr<const Json*> Get(const std::string& key) {
    taken_.insert(key);
    auto it = object_.find(key);
    if (it == object_.end()) return InvalidArgumentError(where_ + ": missing \"" + key + "\"");
    return &*it;
  }
  const std::string& where() const { return where_; }

 private:
  Status Wrong(const std::string& key, const char* expected) const {
    return InvalidArgumentError(where_ + ": \"" + key + "\" must be " + expected);
  }
  const Json& object_;
  std::string where_;
  std::set<std::string> taken_;
};

Status AbsolutePath(const std::string& path, const std::string& what) {
  if (path.empty() || path[0] != '/' || path.find('\0') != std::string::npos) {
    return InvalidArgumentError(what + " must be an absolute path, not \"" + path + "\"");
  }
  return OkStatus();
}

Status Hash(const std::string& value, const std::string& what) {
  if (!IsSha256Hex(value)) return InvalidArgumentError(what + " is not a SHA-256");
  return OkStatus();
}

Json OrNull(const std::optional<double>& v) { return v ? Json(*v) : Json(nullptr); }

// Numbers that are not finite cannot travel in JSON; they are a bug on the evaluator's side.
double Finite(double v) { return std::isfinite(v) ? v : 0; }

}  // namespace

StatusOr<std::string> JobToJson(const Job& job) {
  Json datasets = Json::array();
  for (const auto& d : job.datasets) {
    datasets.push_back({{"name", d.name},
                        {"root", d.root},
                        {"manifest_path", d.manifest_path},
                        {"manifest_sha256", d.manifest_sha256},
                        {"eval_config", EvalConfigJson(d.eval_config)},
                        {"eval_config_sha256", d.eval_config_sha256},
                        {"evaluation_key", d.evaluation_key},
                        {"records_path", d.records_path}});
  }
  Json doc = {{"job_version", kJobVersion},
              {"evaluator_version", job.evaluator_version},
              {"checkpoint_path", job.checkpoint_path},
              {"checkpoint_sha256", job.checkpoint_sha256},
              {"arch_path", job.arch_path ? Json(*job.arch_path) : Json(nullptr)},
              {"arch_sha256", job.arch_sha256 ? Json(*job.arch_sha256) : Json(nullptr)},
              {"threads", job.threads},
              {"decode_threads", job.decode_threads},
              {"skip_bad_images", job.skip_bad_images},
              {"verify_files", job.verify_files},
              {"max_pixels", job.max_pixels},
              {"normaliser_path", job.normaliser_path ? Json(*job.normaliser_path) : Json(nullptr)},
              {"datasets", std::move(datasets)}};
  return CanonicalJson(doc);
}

StatusOr<Job> JobFromJson(std::string_view text, std::string_view source_name) {
  TW_ASSIGN_OR_RETURN(Json doc, ParseJson(text, source_name));
  Fields f(doc, std::string(source_name));
  Job job;
  TW_ASSIGN_OR_RETURN(int64_t version, f.Int("job_version"));
  if (version != kJobVersion) {
    return InvalidArgumentError(f.where() + ": job_version " + std::to_string(version) +
                                " is not supported (this evaluator reads version " +
                                std::to_string(kJobVersion) + ")");
  }
  TW_ASSIGN_OR_RETURN(job.evaluator_version, f.String("evaluator_version"));
  TW_ASSIGN_OR_RETURN(job.checkpoint_path, f.String("checkpoint_path"));
  TW_RETURN_IF_ERROR(AbsolutePath(job.checkpoint_path, "checkpoint_path"));
  TW_ASSIGN_OR_RETURN(job.checkpoint_sha256, f.String("checkpoint_sha256"));
  TW_RETURN_IF_ERROR(Hash(job.checkpoint_sha256, "checkpoint_sha256"));
  TW_ASSIGN_OR_RETURN(job.arch_path, f.OptionalString("arch_path"));
  TW_ASSIGN_OR_RETURN(job.arch_sha256, f.OptionalString("arch_sha256"));
  if (job.arch_path.has_value() != job.arch_sha256.has_value()) {
    return InvalidArgumentError(f.where() + ": arch_path and arch_sha256 go together");
  }
  if (job.arch_path) {
    TW_RETURN_IF_ERROR(AbsolutePath(*job.arch_path, "arch_path"));
    TW_RETURN_IF_ERROR(Hash(*job.arch_sha256, "arch_sha256"));
  }
  TW_ASSIGN_OR_RETURN(int64_t threads, f.Int("threads"));
  TW_ASSIGN_OR_RETURN(int64_t decode_threads, f.Int("decode_threads"));
  if (threads < 0 || threads > 1024 || decode_threads < 1 || decode_threads > 1024) {
    return InvalidArgumentError(f.where() + ": threads must be 0..1024, decode_threads 1..1024");
  }
  job.threads = static_cast<int>(threads);
  job.decode_threads = static_cast<int>(decode_threads);
  TW_ASSIGN_OR_RETURN(job.skip_bad_images, f.Bool("skip_bad_images"));
  TW_ASSIGN_OR_RETURN(job.verify_files, f.Bool("verify_files"));
  TW_ASSIGN_OR_RETURN(int64_t max_pixels, f.Int("max_pixels"));
  if (max_pixels < 1) return InvalidArgumentError(f.where() + ": max_pixels must be positive");
  job.max_pixels = static_cast<uint64_t>(max_pixels);
  TW_ASSIGN_OR_RETURN(job.normaliser_path, f.OptionalString("normaliser_path"));
  if (job.normaliser_path)
    TW_RETURN_IF_ERROR(AbsolutePath(*job.normaliser_path, "normaliser_path"));
  TW_ASSIGN_OR_RETURN(const Json* datasets, f.Get("datasets"));
  if (!datasets->is_array() || datasets->empty()) {
    return InvalidArgumentError(f.where() + ": datasets must be a non-empty list");
  }
  std::set<std::string> names;
  for (size_t i = 0; i < datasets->size(); ++i) {
    Fields d((*datasets)[i], f.where() + ": datasets[" + std::to_string(i) + "]");
    JobDataset entry;
    TW_ASSIGN_OR_RETURN(entry.name, d.String("name"));
    if (entry.name.empty() || !names.insert(entry.name).second) {
      return InvalidArgumentError(d.where() + ": empty or repeated dataset name");
    }
    TW_ASSIGN_OR_RETURN(entry.root, d.String("root"));
    TW_RETURN_IF_ERROR(AbsolutePath(entry.root, d.where() + ".root"));
    TW_ASSIGN_OR_RETURN(entry.manifest_path, d.String("manifest_path"));
    TW_RETURN_IF_ERROR(AbsolutePath(entry.manifest_path, d.where() + ".manifest_path"));
    TW_ASSIGN_OR_RETURN(entry.manifest_sha256, d.String("manifest_sha256"));
    TW_RETURN_IF_ERROR(Hash(entry.manifest_sha256, d.where() + ".manifest_sha256"));
    TW_ASSIGN_OR_RETURN(const Json* config, d.Get("eval_config"));
    if (!config->is_object())
      return InvalidArgumentError(d.where() + ".eval_config: not an object");
    TW_RETURN_IF_ERROR(
        ApplyEvalConfigJson(config->dump(), &entry.eval_config).WithContext(d.where()));
    TW_RETURN_IF_ERROR(ValidateEvalConfig(entry.eval_config).WithContext(d.where()));
    TW_ASSIGN_OR_RETURN(entry.eval_config_sha256, d.String("eval_config_sha256"));
    TW_RETURN_IF_ERROR(Hash(entry.eval_config_sha256, d.where() + ".eval_config_sha256"));
    TW_ASSIGN_OR_RETURN(HashedJson hashed, HashEvalConfig(entry.eval_config));
    if (hashed.sha256 != entry.eval_config_sha256) {
      // Both sides must agree on what the config is, or the key would lie.
      return InvalidArgumentError(d.where() + ": eval_config_sha256 does not match eval_config");
    }
    TW_ASSIGN_OR_RETURN(entry.evaluation_key, d.String("evaluation_key"));
    TW_RETURN_IF_ERROR(Hash(entry.evaluation_key, d.where() + ".evaluation_key"));
    TW_ASSIGN_OR_RETURN(entry.records_path, d.String("records_path"));
    TW_RETURN_IF_ERROR(AbsolutePath(entry.records_path, d.where() + ".records_path"));
    TW_RETURN_IF_ERROR(d.Check());
    job.datasets.push_back(std::move(entry));
  }
  TW_RETURN_IF_ERROR(f.Check());
  return job;
}

std::string ProgressEventJson(const Progress& p) {
  return Json{{"event", "progress"},      {"done", p.done},
              {"total", p.total},         {"images_per_s", Finite(p.images_per_s)},
              {"eta_s", Finite(p.eta_s)}, {"model_wait_fraction", Finite(p.model_wait_fraction)}}
      .dump();
}

std::string ResultEventJson(const DatasetResult& r) {
  Json bad = Json::array();
  for (size_t i = 0; i < r.bad_images.size() && i < kMaxBadImagesListed; ++i) {
    bad.push_back({{"path", r.bad_images[i].path}, {"reason", r.bad_images[i].reason}});
  }
  Json subsets = Json::array();
  for (const auto& s : r.corruption_subsets) {
    subsets.push_back({{"corruption", s.corruption}, {"severity", s.severity}, {"top1", s.top1}});
  }
  Json doc = {
      {"event", "result"},
      {"dataset", r.dataset},
      {"evaluation_key", r.evaluation_key},
      {"n", r.n},
      {"excluded", r.excluded},
      {"top1", Finite(r.top1)},
      {"top5", Finite(r.top5)},
      {"nll", OrNull(r.nll)},
      {"ece", OrNull(r.ece)},
      {"per_class", Json::parse(r.per_class_json)},
      {"corruption_subsets", subsets},
      {"corruption", r.corruption_json.empty() ? Json(nullptr) : Json::parse(r.corruption_json)},
      {"records",
       {{"path", r.records_path}, {"count", r.records_count}, {"digest", r.records_digest}}},
      {"bad_images", bad},
      {"bad_image_count", r.bad_image_count},
      {"wall_s", Finite(r.wall_s)}};
  return doc.dump(-1, ' ', false, Json::error_handler_t::replace);
}

std::string ErrorEventJson(const std::optional<std::string>& dataset, const Status& status) {
  return Json{{"event", "error"},
              {"dataset", dataset ? Json(*dataset) : Json(nullptr)},
              {"code", std::string(StatusCodeName(status.code()))},
              {"message", status.message()}}
      .dump(-1, ' ', false, Json::error_handler_t::replace);
}

StatusOr<Event> ParseEventLine(std::string_view line) {
  if (line.size() > (64u << 20)) return InvalidArgumentError("evaluator line over 64 MiB");
  TW_ASSIGN_OR_RETURN(Json doc, ParseJson(line, "evaluator output"));
  if (!doc.is_object()) return InvalidArgumentError("evaluator output: not a JSON object");
  auto kind_it = doc.find("event");
  if (kind_it == doc.end() || !kind_it->is_string()) {
    return InvalidArgumentError("evaluator output: no \"event\"");
  }
  Event event;
  event.json = std::string(line);
  const std::string kind = kind_it->get<std::string>();
  Fields f(doc, "evaluator " + kind + " event");
  (void)f.Get("event");  // read above; marks the key as known
  if (kind == "start" || kind == "done") {
    event.kind = kind == "start" ? Event::Kind::kStart : Event::Kind::kDone;
    return event;  // free-form provenance: recorded as is
  }
  if (kind == "progress") {
    event.kind = Event::Kind::kProgress;
    TW_ASSIGN_OR_RETURN(event.progress.done, f.Int("done"));
    TW_ASSIGN_OR_RETURN(event.progress.total, f.Int("total"));
    TW_ASSIGN_OR_RETURN(event.progress.images_per_s, f.Number("images_per_s"));
    TW_ASSIGN_OR_RETURN(event.progress.eta_s, f.Number("eta_s"));
    TW_ASSIGN_OR_RETURN(event.progress.model_wait_fraction, f.Number("model_wait_fraction"));
    TW_RETURN_IF_ERROR(f.Check());
    return event;
  }
  if (kind == "error") {
    event.kind = Event::Kind::kError;
    TW_ASSIGN_OR_RETURN(event.error_dataset, f.OptionalString("dataset"));
    TW_ASSIGN_OR_RETURN(event.error_code, f.String("code"));
    TW_ASSIGN_OR_RETURN(event.error_message, f.String("message"));
    TW_RETURN_IF_ERROR(f.Check());
    return event;
  }
  if (kind != "result") return InvalidArgumentError("evaluator output: unknown event " + kind);
  event.kind = Event::Kind::kResult;
  DatasetResult& r = event.result;
  TW_ASSIGN_OR_RETURN(r.dataset, f.String("dataset"));
  TW_ASSIGN_OR_RETURN(r.evaluation_key, f.String("evaluation_key"));
  TW_RETURN_IF_ERROR(Hash(r.evaluation_key, "result.evaluation_key"));
  TW_ASSIGN_OR_RETURN(r.n, f.Int("n"));
  TW_ASSIGN_OR_RETURN(r.excluded, f.Int("excluded"));
  TW_ASSIGN_OR_RETURN(r.top1, f.Number("top1"));
  TW_ASSIGN_OR_RETURN(r.top5, f.Number("top5"));
  if (r.n < 0 || r.excluded < 0 || r.top1 < 0 || r.top1 > 100 || r.top5 < 0 || r.top5 > 100) {
    return InvalidArgumentError("evaluator result for " + r.dataset +
                                ": counts or accuracies "
                                "out of range");
  }
  TW_ASSIGN_OR_RETURN(r.nll, f.OptionalNumber("nll"));
  TW_ASSIGN_OR_RETURN(r.ece, f.OptionalNumber("ece"));
  TW_ASSIGN_OR_RETURN(const Json* per_class, f.Get("per_class"));
  if (!per_class->is_array()) return InvalidArgumentError("result.per_class: not a list");
  r.per_class_json = per_class->dump();
  TW_ASSIGN_OR_RETURN(const Json* subsets, f.Get("corruption_subsets"));
  if (!subsets->is_array()) return InvalidArgumentError("result.corruption_subsets: not a list");
  for (const auto& s : *subsets) {
    Fields sf(s, "result.corruption_subsets[]");
    CorruptionSubset subset;
    TW_ASSIGN_OR_RETURN(subset.corruption, sf.String("corruption"));
    TW_ASSIGN_OR_RETURN(int64_t severity, sf.Int("severity"));
    subset.severity = static_cast<int>(severity);
    TW_ASSIGN_OR_RETURN(subset.top1, sf.Number("top1"));
    TW_RETURN_IF_ERROR(sf.Check());
    r.corruption_subsets.push_back(std::move(subset));
  }
  TW_ASSIGN_OR_RETURN(const Json* corruption, f.Get("corruption"));
  if (!corruption->is_null()) {
    if (!corruption->is_object()) return InvalidArgumentError("result.corruption: not an object");
    r.corruption_json = corruption->dump();
  }
  TW_ASSIGN_OR_RETURN(const Json* records, f.Get("records"));
  Fields rf(*records, "result.records");
  TW_ASSIGN_OR_RETURN(r.records_path, rf.String("path"));
  TW_ASSIGN_OR_RETURN(r.records_count, rf.Int("count"));
  TW_ASSIGN_OR_RETURN(r.records_digest, rf.String("digest"));
  TW_RETURN_IF_ERROR(Hash(r.records_digest, "result.records.digest"));
  TW_RETURN_IF_ERROR(rf.Check());
  TW_ASSIGN_OR_RETURN(const Json* bad, f.Get("bad_images"));
  if (!bad->is_array()) return InvalidArgumentError("result.bad_images: not a list");
  for (const auto& b : *bad) {
    Fields bf(b, "result.bad_images[]");
    BadImage image;
    TW_ASSIGN_OR_RETURN(image.path, bf.String("path"));
    TW_ASSIGN_OR_RETURN(image.reason, bf.String("reason"));
    TW_RETURN_IF_ERROR(bf.Check());
    r.bad_images.push_back(std::move(image));
  }
  TW_ASSIGN_OR_RETURN(r.bad_image_count, f.Int("bad_image_count"));
  if (r.bad_image_count < static_cast<int64_t>(r.bad_images.size())) {
    return InvalidArgumentError("result.bad_image_count is below the bad images listed");
  }
  TW_ASSIGN_OR_RETURN(r.wall_s, f.Number("wall_s"));
  TW_RETURN_IF_ERROR(f.Check());
  return event;
}

}  // namespace tw::protocol
