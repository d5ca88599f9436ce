#include "reports/plot_data.h"

#include <algorithm>
#include <cstdint>
#include <set>
#include <utility>

#include "plots/svg.h"

namespace tw {
namespace {

std::string Signed(double value, int decimals) {
  std::string text = plots::FormatFixed(value, decimals);
  return text.front() == '-' ? text : "+" + text;
}

// "regression: sketch -10.00 points [-12.10, -7.90], p_holm 0.0001 (n 1000) vs run/step_1.pt
// (previous, best); imagenet +10.00 points [8.00, 12.00], p 0.0000 (n 2000)"
std::string FlagDetail(const TransferCheckInfo& f) {
  std::string kinds;
  for (const auto& k : f.reference_kinds) kinds += (kinds.empty() ? "" : ", ") + k;
  const PairedNumbers& v = f.variant_numbers;
  const PairedNumbers& r = f.reference;
  return f.verdict + " on " + f.checkpoint + " vs " + f.reference_checkpoint +
         (kinds.empty() ? "" : " (" + kinds + ")") + "\n" + f.variant + ": " + Signed(v.delta, 2) +
         " points [" + plots::FormatFixed(v.ci_low, 2) + ", " + plots::FormatFixed(v.ci_high, 2) +
         "], p_holm " + plots::FormatFixed(f.variant_p_holm, 4) + ", n " + std::to_string(v.n) +
         "\n" + f.reference_dataset + ": " + Signed(r.delta, 2) + " points [" +
         plots::FormatFixed(r.ci_low, 2) + ", " + plots::FormatFixed(r.ci_high, 2) + "], p " +
         plots::FormatFixed(r.p, 4) + ", n " + std::to_string(r.n);
}

}  // namespace

std::string LiteralGlob(std::string_view text) {
  std::string out;
  for (char c : text) {
    if (c == '*' || c == '?' || c == '[' || c == ']' || c == '\\') out += '\\';
    out += c;
  }
  return out;
}

StatusOr<std::vector<RunOverview>> ListRunOverviews(Store& store) {
  CheckpointFilter filter;
  filter.origin = "file";
  TW_ASSIGN_OR_RETURN(auto checkpoints, store.ListCheckpoints(filter));
  std::map<std::string, RunOverview> runs;
  for (const auto& c : checkpoints) {
    if (!c.run) continue;
    RunOverview& run = runs[*c.run];
    if (run.checkpoints == 0) {
      run.run = *c.run;
      run.last_checkpoint_at = c.created_at;
    }
    ++run.checkpoints;
    run.evaluations += c.evaluations;
    run.last_checkpoint_at = std::max(run.last_checkpoint_at, c.created_at);
    if (c.step && (!run.latest_step || *run.latest_step < *c.step)) run.latest_step = c.step;
  }
  std::vector<RunOverview> out;
  out.reserve(runs.size());
  for (auto& [name, run] : runs) out.push_back(std::move(run));
  return out;
}

StatusOr<RunProgress> LoadRunProgress(Store& store, const std::string& run) {
  const std::string glob = LiteralGlob(run);
  CheckpointFilter filter;
  filter.origin = "file";
  filter.run_glob = glob;
  TW_ASSIGN_OR_RETURN(auto checkpoints, store.ListCheckpoints(filter));
  if (checkpoints.empty()) return NotFoundError("run '" + run + "' has no checkpoints");

  RunProgress progress;
  progress.run = run;
  const bool all_steps = std::all_of(checkpoints.begin(), checkpoints.end(),
                                     [](const CheckpointInfo& c) { return c.step.has_value(); });
  const bool all_epochs = std::all_of(checkpoints.begin(), checkpoints.end(),
                                      [](const CheckpointInfo& c) { return c.epoch.has_value(); });
  progress.x_axis = all_steps ? "step" : all_epochs ? "epoch" : "checkpoint";
  // Registration order for the "checkpoint" axis (and for ties on the others).
  std::sort(checkpoints.begin(), checkpoints.end(),
            [](const CheckpointInfo& a, const CheckpointInfo& b) {
              return a.created_at != b.created_at ? a.created_at < b.created_at : a.id < b.id;
            });
  std::map<int64_t, size_t> index_of;  // checkpoint id -> index in progress.checkpoints
  for (size_t i = 0; i < checkpoints.size(); ++i) {
    RunCheckpoint rc;
    rc.checkpoint = std::move(checkpoints[i]);
    if (all_steps) {
      rc.x = static_cast<double>(*rc.checkpoint.step);
    } else if (all_epochs) {
      rc.x = *rc.checkpoint.epoch;
    } else {
      rc.x = static_cast<double>(i + 1);
    }
    progress.checkpoints.push_back(std::move(rc));
  }
  std::stable_sort(progress.checkpoints.begin(), progress.checkpoints.end(),
                   [](const RunCheckpoint& a, const RunCheckpoint& b) { return a.x < b.x; });
  for (size_t i = 0; i < progress.checkpoints.size(); ++i) {
    index_of[progress.checkpoints[i].checkpoint.id] = i;
  }

  ResultQuery query;
  query.run_glob = glob;  // newest first: the first row of a (checkpoint, dataset) wins
  TW_ASSIGN_OR_RETURN(auto results, store.QueryResults(query));
  std::set<std::string> datasets;
  for (const auto& row : results) {
    auto it = index_of.find(row.checkpoint_id);
    if (it == index_of.end()) continue;
    progress.checkpoints[it->second].top1.emplace(row.dataset, row.top1);
    datasets.insert(row.dataset);
  }
  progress.datasets.assign(datasets.begin(), datasets.end());

  FlagFilter flags;
  flags.run_glob = glob;
  flags.limit = 10000;
  TW_ASSIGN_OR_RETURN(progress.flags, store.ListFlags(flags));
  return progress;
}

plots::LineChart RunProgressChart(const RunProgress& progress) {
  plots::LineChart chart;
  chart.id = "run-accuracy";
  chart.title = progress.run + ": top-1 by " + progress.x_axis;
  chart.x_label =
      progress.x_axis == "checkpoint" ? "checkpoint (registration order)" : progress.x_axis;
  chart.y_label = "top-1 (%)";
  for (const std::string& dataset : progress.datasets) {
    plots::Series series;
    series.name = dataset;
    for (const RunCheckpoint& c : progress.checkpoints) {
      // A checkpoint not evaluated on this dataset is no point: the line joins the measured
      // ones, so a dataset evaluated every fifth checkpoint still draws a line.
      auto it = c.top1.find(dataset);
      if (it != c.top1.end()) series.points.push_back({c.x, it->second, c.checkpoint.display_name});
    }
    chart.series.push_back(std::move(series));
  }
  for (const TransferCheckInfo& f : progress.flags) {
    for (const RunCheckpoint& c : progress.checkpoints) {
      if (c.checkpoint.display_name != f.checkpoint) continue;
      auto it = c.top1.find(f.variant);
      if (it == c.top1.end()) break;
      chart.markers.push_back({f.variant, c.x, it->second, f.verdict, FlagDetail(f), f.checkpoint});
      break;
    }
  }
  return chart;
}

StatusOr<std::vector<DatasetInfo>> ListVariants(Store& store) {
  TW_ASSIGN_OR_RETURN(auto datasets, store.ListDatasets());
  std::vector<DatasetInfo> out;
  for (auto& d : datasets) {
    if (d.reference && *d.reference != d.name) out.push_back(std::move(d));
  }
  std::sort(out.begin(), out.end(),
            [](const DatasetInfo& a, const DatasetInfo& b) { return a.name < b.name; });
  return out;
}

StatusOr<VariantPool> LoadVariantPool(Store& store, const std::string& variant,
                                      const std::optional<std::string>& run) {
  TW_ASSIGN_OR_RETURN(DatasetInfo dataset, store.GetDataset(variant));
  if (!dataset.reference || *dataset.reference == dataset.name) {
    return InvalidArgumentError("dataset '" + variant + "' has no reference dataset");
  }
  TW_ASSIGN_OR_RETURN(DatasetInfo reference, store.GetDataset(*dataset.reference));
  VariantPool pool;
  pool.variant = dataset.name;
  pool.reference = reference.name;
  pool.run = run;
  TW_ASSIGN_OR_RETURN(pool.rows, store.QueryPool(dataset.id, reference.id));
  std::vector<analysis::PoolEntry> entries;
  entries.reserve(pool.rows.size());
  for (const PoolRow& row : pool.rows) {
    entries.push_back({row.checkpoint, row.img_size.value_or(0), row.reference, row.variant});
  }
  analysis::PoolReportOptions options;
  auto stats = analysis::ComputeVariantStats(std::move(entries), options);
  if (!stats.ok()) return stats.status().WithContext(dataset.name + " against " + reference.name);
  pool.stats = std::move(*stats);
  return pool;
}

plots::ScatterPlot VariantPoolScatter(const VariantPool& pool) {
  plots::ScatterPlot plot;
  plot.id = "scatter";
  plot.title = pool.variant + " vs " + pool.reference + " (top-1)";
  plot.x_label = pool.reference + " top-1 (%)";
  plot.y_label = pool.variant + " top-1 (%)";
  plot.highlight_name = pool.run ? "run " + *pool.run : "selected";
  for (const PoolRow& row : pool.rows) {
    plots::ScatterPoint p;
    p.x = row.reference;
    p.y = row.variant;
    p.label = row.checkpoint + (row.img_size ? " @" + std::to_string(*row.img_size) : "");
    p.group = row.origin == "import" ? "imported models" : "checkpoints";
    p.highlighted = pool.run && row.origin == "file" && row.run == pool.run;
    plot.points.push_back(std::move(p));
  }
  if (pool.stats.er_slope && pool.stats.er_intercept) {
    plot.fit = plots::LogitFit{*pool.stats.er_slope, *pool.stats.er_intercept};
  }
  return plot;
}

}  // namespace tw
