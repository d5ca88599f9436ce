// What the dashboard and `transferwatch plot` draw, read from the store and turned into the plain
// chart structs of plots/: a run's accuracy on every dataset over training with its flags marked,
// and a variant's reference-vs-variant scatter over the whole pool (imported models and
// evaluated checkpoints) with the effective-robustness fit and a run's checkpoints highlighted.
// The daemon's pages and the CLI's files call the same functions, so they show the same thing.
#pragma once

#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "analysis/pool_report.h"
#include "common/status.h"
#include "plots/charts.h"
#include "store/store.h"

namespace tw {

// A run (a folder of checkpoint files), as the dashboard's index lists it.
struct RunOverview {
  std::string run;
  int64_t checkpoints = 0;
  int64_t evaluations = 0;
  std::optional<int64_t> latest_step;
  TimePoint last_checkpoint_at;
};

// Every run with at least one checkpoint, by name.
StatusOr<std::vector<RunOverview>> ListRunOverviews(Store& store);

struct RunCheckpoint {
  CheckpointInfo checkpoint;
  double x = 0;                        // its place on the run's axis (see RunProgress::x_axis)
  std::map<std::string, double> top1;  // dataset -> top-1 in percent (the newest evaluation)
};

struct RunProgress {
  std::string run;
  // "step" when every checkpoint has one (sidecar, else file name), else "epoch" when every one
  // has a sidecar epoch, else "checkpoint": the registration order, 1-based. One axis per run:
  // mixing steps and positions would draw a meaningless line.
  std::string x_axis;
  std::vector<RunCheckpoint> checkpoints;  // by x, then id
  std::vector<std::string> datasets;       // every dataset with a result here, by name
  std::vector<TransferCheckInfo> flags;    // flags raised on the run's checkpoints, newest first
};

// NotFound when no checkpoint file belongs to `run`.
StatusOr<RunProgress> LoadRunProgress(Store& store, const std::string& run);

// One series per dataset (its measured checkpoints in order, joined), one marker per flag on its
// variant's series at the flagged checkpoint.
plots::LineChart RunProgressChart(const RunProgress& progress);

struct VariantPool {
  std::string variant;
  std::string reference;
  std::optional<std::string> run;  // whose checkpoints are highlighted
  std::vector<PoolRow> rows;       // the whole pool: imported models and checkpoints
  analysis::VariantStats stats;    // over `rows` (er_* empty when no fit is possible)
};

// The pool of `variant` against its registered reference. NotFound for an unknown variant;
// InvalidArgument when it has no reference. `run` only chooses what is highlighted.
StatusOr<VariantPool> LoadVariantPool(Store& store, const std::string& variant,
                                      const std::optional<std::string>& run);

// x: reference top-1, y: variant top-1; imported models and checkpoints in two groups, the run's
// checkpoints highlighted, the logit-space least-squares fit drawn as its curve.
plots::ScatterPlot VariantPoolScatter(const VariantPool& pool);

// Datasets that have a reference dataset (the variants one can plot), by name.
StatusOr<std::vector<DatasetInfo>> ListVariants(Store& store);

// A glob that matches exactly `text` (its metacharacters escaped), so that a run called "a*"
// selects that run only.
std::string LiteralGlob(std::string_view text);

}  // namespace tw
