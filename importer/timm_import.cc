#include "importer/timm_import.h"

#include <dirent.h>

#include <algorithm>
#include <cmath>
#include <map>
#include <nlohmann/json.hpp>
#include <set>

#include "common/canonical_json.h"
#include "common/csv.h"
#include "common/file_util.h"
#include "common/numbers.h"
#include "common/sha256.h"
#include "common/version.h"
#include "store/evaluation_key.h"

namespace tw {
namespace {

constexpr const char* kSource = "timm";
constexpr uint64_t kMaxFileBytes = 64ull << 20;

const std::set<std::string>& KnownInterpolations() {
  static const std::set<std::string> kNames = {"bilinear", "bicubic", "nearest",
                                               "lanczos",  "box",     "hamming"};
  return kNames;
}

bool IsValidModelName(const std::string& name) {
  if (name.empty() || name.size() > 200) return false;
  if (!std::isalnum(static_cast<unsigned char>(name[0]))) return false;
  return std::all_of(name.begin(), name.end(), [](char c) {
    return std::isalnum(static_cast<unsigned char>(c)) || c == '.' || c == '_' || c == '-' ||
           c == '+';
  });
}

// A CSV file as a header plus rows addressed by column name.
class CsvTable {
 public:
  static StatusOr<CsvTable> Read(const std::string& path, std::string* sha256) {
    TW_ASSIGN_OR_RETURN(std::string text, ReadFileToString(path, kMaxFileBytes));
    *sha256 = Sha256Hex(text);
    TW_ASSIGN_OR_RETURN(auto records, ParseCsv(text, path));
    if (records.empty()) return InvalidArgumentError(path + ": empty file (no header line)");
    CsvTable table;
    table.path_ = path;
    table.records_ = std::move(records);
    const auto& header = table.records_.front();
    for (size_t i = 0; i < header.fields.size(); ++i) {
      if (!table.columns_.emplace(header.fields[i], i).second) {
        return InvalidArgumentError(path + ":" + std::to_string(header.line) + ": column \"" +
                                    header.fields[i] + "\" appears twice");
      }
    }
    return table;
  }

  Status Require(const std::vector<std::string>& names) const {
    for (const auto& name : names) {
      if (!columns_.count(name)) {
        return InvalidArgumentError(path_ + ":" + std::to_string(records_.front().line) +
                                    ": missing column \"" + name + "\"");
      }
    }
    return OkStatus();
  }

  bool Has(const std::string& name) const { return columns_.count(name) > 0; }
  const std::map<std::string, size_t>& columns() const { return columns_; }
  size_t rows() const { return records_.size() - 1; }
  int Line(size_t row) const { return records_[row + 1].line; }
  std::string Location(size_t row) const { return path_ + ":" + std::to_string(Line(row)); }

  Status CheckWidth(size_t row) const {
    size_t want = records_.front().fields.size();
    size_t got = records_[row + 1].fields.size();
    if (got != want) {
      return InvalidArgumentError(Location(row) + ": expected " + std::to_string(want) +
                                  " fields like the header, found " + std::to_string(got));
    }
    return OkStatus();
  }

  const std::string& Cell(size_t row, const std::string& column) const {
    return records_[row + 1].fields[columns_.at(column)];
  }

 private:
  std::string path_;
  std::vector<CsvRecord> records_;
  std::map<std::string, size_t> columns_;
};

Status CellError(const CsvTable& table, size_t row, const std::string& column,
                 const std::string& reason) {
  return InvalidArgumentError(table.Location(row) + ": column " + column + ": " + reason);
}

StatusOr<double> Percent(const CsvTable& table, size_t row, const std::string& column) {
  auto value = ParseDecimal(table.Cell(row, column));
  if (!value.ok()) return CellError(table, row, column, value.status().message());
  if (*value < 0 || *value > 100) {
    return CellError(table, row, column,
                     "\"" + table.Cell(row, column) + "\" is not a percentage in [0, 100]");
  }
  return *value;
}

// The optional signed columns timm derives from the reference file; checked, not stored.
Status CheckOptionalSigned(const CsvTable& table, size_t row, const std::string& column,
                           bool integer) {
  if (!table.Has(column)) return OkStatus();
  const std::string& cell = table.Cell(row, column);
  if (cell.empty()) return OkStatus();
  Status status = integer ? ParseInt(cell).status() : ParseDecimal(cell).status();
  if (!status.ok()) return CellError(table, row, column, status.message());
  return OkStatus();
}

// top1 + top1_err must be 100 up to the rounding of the third decimal.
Status CheckComplement(const CsvTable& table, size_t row, const std::string& column, double value) {
  if (!table.Has(column)) return OkStatus();
  auto err = ParseDecimal(table.Cell(row, column));
  if (!err.ok()) return CellError(table, row, column, err.status().message());
  if (std::fabs(value + *err - 100.0) > 0.0015 + 1e-9) {
    return CellError(table, row, column,
                     table.Cell(row, column) + " does not complement the accuracy to 100");
  }
  return OkStatus();
}

struct ModelFacts {
  double param_count_m = 0;
  std::string first_location;
};

}  // namespace

const std::vector<TimmDatasetSpec>& TimmDatasets() {
  static const std::vector<TimmDatasetSpec> kSpecs = {
      {"results-imagenet.csv", "imagenet", nullptr, 1000, nullptr, false},
      {"results-imagenet-a-clean.csv", "imagenet-a-clean", "imagenet", 200, "imagenet-a", false},
      {"results-imagenet-r-clean.csv", "imagenet-r-clean", "imagenet", 200, "imagenet-r", false},
      {"results-imagenet-real.csv", "imagenet-real", "imagenet", 1000, nullptr, true},
      {"results-imagenetv2-matched-frequency.csv", "imagenetv2-matched-frequency", "imagenet", 1000,
       nullptr, false},
      {"results-sketch.csv", "sketch", "imagenet", 1000, nullptr, false},
      {"results-imagenet-a.csv", "imagenet-a", "imagenet-a-clean", 200, "imagenet-a", false},
      {"results-imagenet-r.csv", "imagenet-r", "imagenet-r-clean", 200, "imagenet-r", false},
  };
  return kSpecs;
}

StatusOr<TimmImportPlan> ReadTimmResults(const std::string& dir) {
  TimmImportPlan plan;
  plan.batch.source = kSource;

  std::set<std::string> present;
  DIR* handle = ::opendir(dir.c_str());
  if (handle == nullptr) return ErrnoToStatus(errno, "cannot read directory " + dir);
  while (struct dirent* entry = ::readdir(handle)) present.insert(entry->d_name);
  ::closedir(handle);

  std::set<std::string> known_files;
  for (const auto& spec : TimmDatasets()) known_files.insert(spec.file);
  for (const auto& name : present) {
    if (name.rfind("results-", 0) == 0 && name.size() > 4 &&
        name.compare(name.size() - 4, 4, ".csv") == 0 && !known_files.count(name)) {
      plan.warnings.push_back("skipped " + name + ": not one of timm's known results files");
    }
  }

  std::map<std::string, ModelFacts> models;             // ordered: deterministic batches
  std::map<std::string, std::string> config_canonical;  // sha256 -> canonical text
  std::set<std::string> datasets_needed;
  const std::string importer = std::string("transferwatch ") + kVersion + " (" + kGitDescribe + ")";

  for (const auto& spec : TimmDatasets()) {
    if (!present.count(spec.file)) continue;
    const std::string path = dir + "/" + spec.file;
    TimmFileSummary summary{path, spec.dataset, "", 0};
    TW_ASSIGN_OR_RETURN(CsvTable table, CsvTable::Read(path, &summary.sha256));
    TW_RETURN_IF_ERROR(table.Require(
        {"model", "img_size", "top1", "top5", "param_count", "crop_pct", "interpolation"}));
    static const std::set<std::string> kKnownColumns = {
        "model",       "img_size", "top1",          "top1_err",  "top5",      "top5_err",
        "param_count", "crop_pct", "interpolation", "top1_diff", "top5_diff", "rank_diff"};
    for (const auto& [column, index] : table.columns()) {
      if (!kKnownColumns.count(column)) {
        plan.warnings.push_back(path + ": ignored unknown column \"" + column + "\"");
      }
    }
    datasets_needed.insert(spec.dataset);
    if (spec.reference) datasets_needed.insert(spec.reference);

    std::map<std::pair<std::string, int>, int> seen;  // (model, img_size) -> line
    for (size_t row = 0; row < table.rows(); ++row) {
      TW_RETURN_IF_ERROR(table.CheckWidth(row));
      const std::string location = table.Location(row);
      const std::string& model = table.Cell(row, "model");
      if (!IsValidModelName(model)) {
        return CellError(table, row, "model",
                         "\"" + model +
                             "\" is not a model name (letters, digits, '.', '_', '-', '+'; at "
                             "most 200)");
      }
      auto img_size = ParseInt(table.Cell(row, "img_size"));
      if (!img_size.ok() || *img_size < 1 || *img_size > 10000) {
        return CellError(
            table, row, "img_size",
            "\"" + table.Cell(row, "img_size") + "\" is not an image size in 1..10000");
      }
      auto [it, inserted] = seen.emplace(std::make_pair(model, *img_size), table.Line(row));
      if (!inserted) {
        return InvalidArgumentError(location + ": " + model + " at img_size " +
                                    std::to_string(*img_size) + " appears twice (first at line " +
                                    std::to_string(it->second) + ")");
      }
      TW_ASSIGN_OR_RETURN(double top1, Percent(table, row, "top1"));
      TW_ASSIGN_OR_RETURN(double top5, Percent(table, row, "top5"));
      if (top5 < top1) {
        return CellError(table, row, "top5", "top-5 accuracy is below top-1");
      }
      TW_RETURN_IF_ERROR(CheckComplement(table, row, "top1_err", top1));
      TW_RETURN_IF_ERROR(CheckComplement(table, row, "top5_err", top5));
      TW_RETURN_IF_ERROR(CheckOptionalSigned(table, row, "top1_diff", false));
      TW_RETURN_IF_ERROR(CheckOptionalSigned(table, row, "top5_diff", false));
      TW_RETURN_IF_ERROR(CheckOptionalSigned(table, row, "rank_diff", true));
      auto params = ParseGroupedDecimal(table.Cell(row, "param_count"));
      if (!params.ok() || *params < 0) {
        return CellError(table, row, "param_count",
                         params.ok() ? "negative" : params.status().message());
      }
      auto crop = ParseDecimal(table.Cell(row, "crop_pct"));
      if (!crop.ok() || *crop <= 0 || *crop > 2) {
        return CellError(
            table, row, "crop_pct",
            "\"" + table.Cell(row, "crop_pct") + "\" is not a crop fraction in (0, 2]");
      }
      const std::string& interpolation = table.Cell(row, "interpolation");
      if (!KnownInterpolations().count(interpolation)) {
        return CellError(table, row, "interpolation",
                         "\"" + interpolation +
                             "\" is not one of bilinear, bicubic, nearest, lanczos, box, hamming");
      }

      // One model, one parameter count, whichever file says it.
      auto model_it = models.find(model);
      if (model_it == models.end()) {
        models.emplace(model, ModelFacts{*params, location});
      } else if (model_it->second.param_count_m != *params) {
        return CellError(table, row, "param_count",
                         table.Cell(row, "param_count") + " differs from the value at " +
                             model_it->second.first_location);
      }

      nlohmann::json config = {{"source", kSource},
                               {"img_size", *img_size},
                               {"crop_pct", *crop},
                               {"interpolation", interpolation}};
      TW_ASSIGN_OR_RETURN(HashedJson hashed_config, HashCanonicalJson(config));
      config_canonical.emplace(hashed_config.sha256, hashed_config.canonical);

      ImportedEvaluation evaluation;
      TW_ASSIGN_OR_RETURN(evaluation.evaluation_key,
                          ImportedEvaluationKey(kSource, model, spec.dataset, *img_size));
      evaluation.model = model;
      evaluation.dataset = spec.dataset;
      evaluation.eval_config_sha256 = hashed_config.sha256;
      evaluation.top1 = top1;
      evaluation.top5 = top5;
      evaluation.location = location;
      nlohmann::json provenance = {{"source", kSource},
                                   {"file", spec.file},
                                   {"file_sha256", summary.sha256},
                                   {"line", table.Line(row)},
                                   {"imported_by", importer}};
      TW_ASSIGN_OR_RETURN(evaluation.provenance_json, CanonicalJson(provenance));
      plan.batch.evaluations.push_back(std::move(evaluation));
      ++summary.rows;
    }
    plan.files.push_back(std::move(summary));
  }

  if (plan.files.empty()) {
    std::string names;
    for (const auto& spec : TimmDatasets())
      names += std::string(names.empty() ? "" : ", ") + spec.file;
    return NotFoundError(dir + " holds none of timm's results files (" + names + ")");
  }

  // A reference's own reference comes too (imagenet-a -> imagenet-a-clean -> imagenet), so that
  // every reference named in the batch exists.
  for (bool grew = true; grew;) {
    grew = false;
    for (const auto& spec : TimmDatasets()) {
      if (datasets_needed.count(spec.dataset) && spec.reference &&
          datasets_needed.insert(spec.reference).second) {
        grew = true;
      }
    }
  }
  for (const auto& spec : TimmDatasets()) {
    if (!datasets_needed.count(spec.dataset)) continue;
    nlohmann::json protocol = {{"imported_from", kSource},
                               {"num_classes", spec.num_classes},
                               {"multi_label", spec.multi_label}};
    if (spec.class_subset) protocol["class_subset"] = spec.class_subset;
    ImportedDataset dataset;
    dataset.name = spec.dataset;
    if (spec.reference) dataset.reference = spec.reference;
    TW_ASSIGN_OR_RETURN(dataset.protocol_json, CanonicalJson(protocol));
    plan.batch.datasets.push_back(std::move(dataset));
  }
  for (const auto& [name, facts] : models) {
    nlohmann::json metadata = {{"param_count_m", facts.param_count_m}};
    ImportedModel model;
    model.name = name;
    TW_ASSIGN_OR_RETURN(model.metadata_json, CanonicalJson(metadata));
    plan.batch.models.push_back(std::move(model));
  }
  for (const auto& [sha, canonical] : config_canonical) {
    plan.batch.eval_configs.push_back(ImportedEvalConfig{sha, kCanonicalHashVersion, canonical});
  }
  return plan;
}

}  // namespace tw
