#include "cli/commands.h"

#include <algorithm>
#include <iostream>
#include <map>
#include <set>

#include "common/time_util.h"
#include "importer/timm_import.h"
#include "reports/paired_compare.h"
#include "store/checkpoint_name.h"
#include "store/metric_names.h"

namespace tw::cli {
namespace {

using Json = nlohmann::json;

std::string Short(const std::optional<std::string>& hash, bool for_table) {
  if (!hash) return "";
  return for_table ? hash->substr(0, 12) : *hash;
}

std::string JoinInts(const std::vector<int>& values) {
  std::string out;
  for (int v : values) out += (out.empty() ? "" : ",") + std::to_string(v);
  return out;
}

Status CheckLimit(const std::optional<int64_t>& limit) {
  if (limit && *limit < 0) return InvalidArgumentError("--limit must be 0 or more");
  return OkStatus();
}

// --limit 0 means no limit.
std::optional<int64_t> EffectiveLimit(const std::optional<int64_t>& limit) {
  if (limit && *limit == 0) return std::nullopt;
  return limit;
}

}  // namespace

Status ImportTimm(CommandContext& ctx, const ImportTimmOptions& options) {
  TW_ASSIGN_OR_RETURN(TimmImportPlan plan, ReadTimmResults(options.dir));
  TW_ASSIGN_OR_RETURN(
      ImportResult result,
      ctx.store.ImportEvaluations(
          plan.batch, options.update ? ImportMode::kUpdateChanged : ImportMode::kAddNew));
  // Warnings go to stderr for JSON and CSV, which stay machine-readable.
  for (const auto& warning : plan.warnings) {
    (ctx.format == OutputFormat::kTable ? ctx.out : std::cerr) << "warning: " << warning << "\n";
  }
  if (ctx.format == OutputFormat::kTable) {
    std::vector<std::vector<std::string>> rows;
    for (const auto& f : plan.files) {
      rows.push_back({f.dataset, std::to_string(f.rows), f.sha256.substr(0, 12), f.path});
    }
    ctx.out << RenderTextTable({"dataset", "rows", "sha256", "file"}, rows);
    ctx.out << "models: " << plan.batch.models.size() << " (" << result.models_created
            << " new); datasets: " << plan.batch.datasets.size() << " (" << result.datasets_created
            << " new); eval configs: " << plan.batch.eval_configs.size() << " ("
            << result.eval_configs_created << " new)\n"
            << "evaluations: " << plan.batch.evaluations.size() << " read, "
            << result.evaluations_inserted << " added, " << result.evaluations_updated
            << " updated, " << result.evaluations_unchanged << " already recorded\n";
    return OkStatus();
  }
  Listing listing;
  listing.list_name = "files";
  listing.columns = {
      {"dataset", "dataset"}, {"rows", "rows"}, {"sha256", "sha256"}, {"path", "path"}};
  for (const auto& f : plan.files) listing.rows.push_back({f.dataset, f.rows, f.sha256, f.path});
  if (ctx.format == OutputFormat::kCsv) {
    ctx.out << RenderListing(listing, ctx.format);
    return OkStatus();
  }
  nlohmann::ordered_json doc = nlohmann::ordered_json::parse(RenderListing(listing, ctx.format));
  doc["summary"] = {{"models", plan.batch.models.size()},
                    {"models_created", result.models_created},
                    {"datasets", plan.batch.datasets.size()},
                    {"datasets_created", result.datasets_created},
                    {"eval_configs_created", result.eval_configs_created},
                    {"evaluations", plan.batch.evaluations.size()},
                    {"evaluations_inserted", result.evaluations_inserted},
                    {"evaluations_updated", result.evaluations_updated},
                    {"evaluations_unchanged", result.evaluations_unchanged}};
  doc["warnings"] = plan.warnings;
  ctx.out << doc.dump(2) << "\n";
  return OkStatus();
}

Status ListDatasets(CommandContext& ctx) {
  TW_ASSIGN_OR_RETURN(auto datasets, ctx.store.ListDatasets());
  bool table = ctx.format == OutputFormat::kTable;
  Listing listing;
  listing.list_name = "datasets";
  listing.columns = {
      {"name", "dataset"},        {"reference", "reference"},     {"manifest_sha256", "manifest"},
      {"num_samples", "samples"}, {"evaluations", "evaluations"}, {"protocol", "protocol"},
      {"created_at", "created"}};
  for (const auto& d : datasets) {
    listing.rows.push_back(
        {d.name, OrNull(d.reference),
         d.manifest_sha256 ? Json(Short(d.manifest_sha256, table)) : Json(nullptr),
         OrNull(d.num_samples), d.evaluations,
         table ? Json(d.protocol_json) : Json::parse(d.protocol_json),
         FormatIso8601Utc(d.created_at)});
  }
  ctx.out << RenderListing(listing, ctx.format);
  return OkStatus();
}

Status ListCheckpoints(CommandContext& ctx, const ListCheckpointsOptions& options) {
  TW_RETURN_IF_ERROR(CheckLimit(options.limit));
  CheckpointFilter filter;
  if (options.imported_only) filter.origin = "import";
  filter.name_glob = options.glob;
  filter.run_glob = options.run_glob;
  filter.limit = EffectiveLimit(options.limit);
  TW_ASSIGN_OR_RETURN(auto checkpoints, ctx.store.ListCheckpoints(filter));
  bool table = ctx.format == OutputFormat::kTable;
  Listing listing;
  if (options.imported_only) {
    listing.list_name = "models";
    listing.columns = {{"model", "model"},
                       {"source", "source"},
                       {"img_sizes", "img_sizes"},
                       {"param_count_m", "params_m", 2},
                       {"evaluations", "evaluations"}};
    for (const auto& c : checkpoints) {
      Json sizes = Json::array();
      for (int s : c.img_sizes) sizes.push_back(s);
      listing.rows.push_back({c.display_name, OrNull(c.import_source),
                              table ? Json(JoinInts(c.img_sizes)) : sizes, OrNull(c.param_count_m),
                              c.evaluations});
    }
  } else {
    listing.list_name = "checkpoints";
    listing.columns = {
        {"checkpoint", "checkpoint"}, {"origin", "origin"}, {"run", "run"},
        {"sha256", "sha256"},         {"step", "step"},     {"evaluations", "evaluations"},
        {"created_at", "created"}};
    for (const auto& c : checkpoints) {
      listing.rows.push_back({c.display_name, c.origin, OrNull(c.run),
                              c.sha256 ? Json(Short(c.sha256, table)) : Json(nullptr),
                              OrNull(c.step), c.evaluations, FormatIso8601Utc(c.created_at)});
    }
  }
  ctx.out << RenderListing(listing, ctx.format);
  return OkStatus();
}

Status Results(CommandContext& ctx, const ResultsOptions& options) {
  TW_RETURN_IF_ERROR(CheckLimit(options.limit));
  ResultQuery query;
  query.model_glob = options.model_glob;
  query.datasets = options.datasets;
  query.run_glob = options.run_glob;
  if (options.since) {
    TW_ASSIGN_OR_RETURN(query.since, ParseSince(*options.since, ctx.now));
  }
  if (!options.sort.empty()) TW_RETURN_IF_ERROR(ValidateMetricName(options.sort));
  query.sort_metric = options.sort;
  query.order = options.reverse ? SortOrder::kWorstFirst : SortOrder::kBestFirst;
  query.limit = EffectiveLimit(options.limit);
  TW_ASSIGN_OR_RETURN(auto rows, ctx.store.QueryResults(query));

  bool table = ctx.format == OutputFormat::kTable;
  bool extra_metric = !options.sort.empty() && options.sort != "top1" && options.sort != "top5";
  Listing listing;
  listing.list_name = "results";
  if (table) {
    listing.columns = {{"checkpoint", "checkpoint"},
                       {"img_size", "img_size"},
                       {"dataset", "dataset"},
                       {"top1", "top1", 3},
                       {"top5", "top5", 3}};
    if (extra_metric) listing.columns.push_back({options.sort, options.sort, 4});
    listing.columns.push_back({"param_count_m", "params_m", 2});
    listing.columns.push_back({"created_at", "created"});
  } else {
    listing.columns = {{"checkpoint", ""}, {"origin", ""},   {"run", ""},           {"sha256", ""},
                       {"img_size", ""},   {"crop_pct", ""}, {"interpolation", ""}, {"dataset", ""},
                       {"top1", ""},       {"top5", ""},     {"nll", ""},           {"ece", ""}};
    if (extra_metric) listing.columns.push_back({options.sort, ""});
    for (const char* key : {"param_count_m", "eval_config", "source", "evaluation_id", "metrics",
                            "provenance", "created_at"}) {
      listing.columns.push_back({key, ""});
    }
  }
  for (const auto& r : rows) {
    std::vector<Json> row;
    if (table) {
      row = {r.checkpoint, OrNull(r.img_size), r.dataset, r.top1, OrNull(r.top5)};
      if (extra_metric) row.push_back(OrNull(r.sort_value));
      row.push_back(OrNull(r.param_count_m));
      row.push_back(FormatIso8601Utc(r.created_at));
    } else {
      row = {r.checkpoint,
             r.origin,
             OrNull(r.run),
             OrNull(r.sha256),
             OrNull(r.img_size),
             OrNull(r.crop_pct),
             OrNull(r.interpolation),
             r.dataset,
             r.top1,
             OrNull(r.top5),
             OrNull(r.nll),
             OrNull(r.ece)};
      if (extra_metric) row.push_back(OrNull(r.sort_value));
      row.push_back(OrNull(r.param_count_m));
      row.push_back(r.eval_config_sha256);
      row.push_back(r.source);
      row.push_back(r.evaluation_id);
      row.push_back(ctx.format == OutputFormat::kJson ? Json::parse(r.metrics_json)
                                                      : Json(r.metrics_json));
      // An object in JSON; its JSON text in a CSV cell.
      row.push_back(ctx.format == OutputFormat::kJson ? Json::parse(r.provenance_json)
                                                      : Json(r.provenance_json));
      row.push_back(FormatIso8601Utc(r.created_at));
    }
    listing.rows.push_back(std::move(row));
  }
  ctx.out << RenderListing(listing, ctx.format);
  return OkStatus();
}

namespace {

// One side of a comparison: the checkpoint and its newest evaluation per dataset.
struct CompareSide {
  CheckpointInfo checkpoint;
  std::map<std::string, ResultRow> by_dataset;
};

StatusOr<CompareSide> EvaluationsByDataset(CommandContext& ctx, const std::string& name,
                                           const std::vector<std::string>& datasets) {
  TW_ASSIGN_OR_RETURN(ResolvedCheckpoint resolved, ResolveCheckpoint(ctx.store, name));
  if (!resolved.img_size && resolved.checkpoint.img_sizes.size() > 1) {
    return InvalidArgumentError(resolved.checkpoint.display_name +
                                " was evaluated at several image sizes (" +
                                JoinInts(resolved.checkpoint.img_sizes) + "): name one, e.g. " +
                                resolved.checkpoint.display_name + "@" +
                                std::to_string(resolved.checkpoint.img_sizes.front()));
  }
  ResultQuery query;
  query.checkpoint_id = resolved.checkpoint.id;
  query.img_size = resolved.img_size;
  query.datasets = datasets;
  TW_ASSIGN_OR_RETURN(auto rows, ctx.store.QueryResults(query));  // newest first
  CompareSide side;
  side.checkpoint = resolved.checkpoint;
  for (auto& row : rows) side.by_dataset.emplace(row.dataset, std::move(row));
  return side;
}

}  // namespace

Status Compare(CommandContext& ctx, const CompareOptions& options) {
  TW_ASSIGN_OR_RETURN(CompareSide a_side, EvaluationsByDataset(ctx, options.a, options.datasets));
  TW_ASSIGN_OR_RETURN(CompareSide b_side, EvaluationsByDataset(ctx, options.b, options.datasets));
  const auto& a = a_side.by_dataset;
  const auto& b = b_side.by_dataset;
  TW_ASSIGN_OR_RETURN(auto pairings, PairCheckpoints(ctx.store, a_side.checkpoint.id,
                                                     b_side.checkpoint.id, options.datasets));
  std::map<std::string, DatasetPairing> pairing_by_dataset;
  for (auto& p : pairings) pairing_by_dataset.emplace(p.dataset, std::move(p));
  std::set<std::string> names;
  for (const auto& [name, row] : a) names.insert(name);
  for (const auto& [name, row] : b) names.insert(name);
  const bool table = ctx.format == OutputFormat::kTable;
  Listing listing;
  listing.list_name = "comparisons";
  listing.columns = {{"dataset", "dataset"},        {"a_top1", "A top1", 3},
                     {"b_top1", "B top1", 3},       {"delta_top1", "B-A top1", 3},
                     {"a_top5", "A top5", 3},       {"b_top5", "B top5", 3},
                     {"delta_top5", "B-A top5", 3}, {"n", "n"},
                     {"b_only", "B only"},          {"a_only", "A only"},
                     {"delta", "paired B-A", 3},    {"ci_low", "ci_low", 3},
                     {"ci_high", "ci_high", 3},     {"p", "p", 4}};
  if (!table) {
    listing.columns.push_back({"p_mid", "p_mid"});
    listing.columns.push_back({"paired", "paired"});
    listing.columns.push_back({"note", "note"});
  }
  auto diff = [](const std::optional<double>& x, const std::optional<double>& y) -> Json {
    if (!x || !y) return nullptr;
    // Rounded to the 1e-9 the inputs' decimals allow, so 80.123 - 79.623 prints 0.5.
    return std::round((*y - *x) * 1e9) / 1e9;
  };
  auto imported = [](const CheckpointInfo& c) { return c.origin == "import"; };
  std::vector<std::string> unpaired;  // compared on aggregates only
  for (const auto& name : names) {
    std::optional<double> a1, b1, a5, b5;
    std::optional<int64_t> a_eval, b_eval;
    if (auto it = a.find(name); it != a.end()) {
      a1 = it->second.top1;
      a5 = it->second.top5;
      a_eval = it->second.evaluation_id;
    }
    if (auto it = b.find(name); it != b.end()) {
      b1 = it->second.top1;
      b5 = it->second.top5;
      b_eval = it->second.evaluation_id;
    }
    std::vector<Json> row = {name,       OrNull(a1), OrNull(b1),  diff(a1, b1),
                             OrNull(a5), OrNull(b5), diff(a5, b5)};
    // Paired only when the evaluations with predictions are the ones whose top-1 is shown.
    const DatasetPairing* pairing = nullptr;
    std::string note;
    if (auto it = pairing_by_dataset.find(name); it != pairing_by_dataset.end()) {
      pairing = &it->second;
      note = pairing->note;
    }
    if (!a_eval || !b_eval) {
      note = std::string("no result for ") + (a_eval ? "B" : "A");
      pairing = nullptr;
    } else if (pairing == nullptr) {
      note = imported(a_side.checkpoint) || imported(b_side.checkpoint)
                 ? "imported results have no per-sample predictions"
                 : "no per-sample predictions";
    } else if (!pairing->paired && ((!pairing->a_evaluation_id && imported(a_side.checkpoint)) ||
                                    (!pairing->b_evaluation_id && imported(b_side.checkpoint)))) {
      note = "imported results have no per-sample predictions";
    } else if (pairing->paired &&
               (pairing->a_evaluation_id != a_eval || pairing->b_evaluation_id != b_eval)) {
      note = "the newest evaluation has no per-sample predictions";
      pairing = nullptr;
    }
    if (pairing != nullptr && pairing->paired) {
      const auto& c = pairing->comparison;
      row.insert(row.end(), {c.counts.n, c.counts.only_new_correct, c.counts.only_old_correct,
                             c.ci.delta, c.ci.lower, c.ci.upper, c.test.p_exact});
      if (!table) row.insert(row.end(), {c.test.p_mid, true, nullptr});
    } else {
      if (a_eval && b_eval) unpaired.push_back(name);
      for (int i = 0; i < 7; ++i) row.push_back(nullptr);
      if (!table) row.insert(row.end(), {nullptr, false, note});
    }
    listing.rows.push_back(std::move(row));
  }
  if (table) {
    ctx.out << "A = " << options.a << "\nB = " << options.b << "\n";
  }
  ctx.out << RenderListing(listing, ctx.format);
  if (table && !unpaired.empty()) {
    std::string joined;
    for (const auto& n : unpaired) joined += (joined.empty() ? "" : ", ") + n;
    ctx.out << "warning: " << unpaired.size()
            << " dataset(s) compared without per-sample data (aggregate difference, no test): "
            << joined << "\n";
  }
  return OkStatus();
}

Status Report(CommandContext& ctx, const ReportCommandOptions& options) {
  TW_ASSIGN_OR_RETURN(TransferReport report, BuildTransferReport(ctx.store, options.report));
  if (ctx.format == OutputFormat::kJson) {
    ctx.out << TransferReportToJson(report).dump(2) << "\n";
    return OkStatus();
  }
  Listing listing;
  if (options.residuals) {
    listing.list_name = "residuals";
    listing.columns = {{"dataset", "dataset"},
                       {"reference", "reference"},
                       {"model", "model"},
                       {"img_size", "img_size"},
                       {"reference_top1", "ref top1", 3},
                       {"variant_top1", "var top1", 3},
                       {"residual", "eff. robustness", 3}};
    for (const auto& v : report.variants) {
      for (const auto& r : v.stats.residuals) {
        listing.rows.push_back({v.dataset, v.reference, r.model,
                                r.img_size ? Json(r.img_size) : Json(nullptr), r.reference,
                                r.variant, r.residual});
      }
    }
    ctx.out << RenderListing(listing, ctx.format);
    return OkStatus();
  }
  listing.list_name = "variants";
  listing.columns = {{"dataset", "dataset"},
                     {"reference", "reference"},
                     {"n", "n"},
                     {"kendall_tau_b", "tau_b", 3},
                     {"spearman_rho", "rho", 3},
                     {"flips", "flips"},
                     {"eligible_pairs", "eligible"},
                     {"flip_rate", "flip_rate", 3},
                     {"er_slope", "er_slope", 3},
                     {"er_intercept", "er_intercept", 3}};
  for (const auto& v : report.variants) {
    const auto& s = v.stats;
    listing.rows.push_back({v.dataset, v.reference, s.n, OrNull(s.kendall_tau_b),
                            OrNull(s.spearman_rho), s.flips, s.eligible_pairs, OrNull(s.flip_rate),
                            OrNull(s.er_slope), OrNull(s.er_intercept)});
  }
  ctx.out << RenderListing(listing, ctx.format);
  if (ctx.format == OutputFormat::kTable) {
    ctx.out << "\nflips: ordered pairs whose reference gap is at least " << report.delta
            << " points and whose variant order is reversed";
    if (report.top) ctx.out << "; pool: the " << *report.top << " best on each reference";
    if (report.run_glob) ctx.out << "; pool: checkpoints of runs matching " << *report.run_glob;
    if (report.exclude_imported) ctx.out << "; pool: imported models left out";
    ctx.out << ".\nEffective robustness (points above the logit-linear fit), best and worst:\n";
    for (const auto& v : report.variants) {
      if (v.stats.residuals.empty()) continue;
      auto sorted = v.stats.residuals;
      std::sort(sorted.begin(), sorted.end(),
                [](const auto& x, const auto& y) { return x.residual > y.residual; });
      // MODEL@IMG_SIZE only for models in the pool at several sizes.
      std::map<std::string, int> entries_per_model;
      for (const auto& r : sorted) ++entries_per_model[r.model];
      auto label = [&](const analysis::Residual& r) {
        bool several = entries_per_model[r.model] > 1;
        return r.model + (several && r.img_size ? "@" + std::to_string(r.img_size) : "");
      };
      char buf[64];
      std::snprintf(buf, sizeof(buf), "%+.2f", sorted.front().residual);
      ctx.out << "  " << v.dataset << ": best " << label(sorted.front()) << " " << buf;
      std::snprintf(buf, sizeof(buf), "%+.2f", sorted.back().residual);
      ctx.out << ", worst " << label(sorted.back()) << " " << buf << "\n";
    }
  }
  return OkStatus();
}

}  // namespace tw::cli
