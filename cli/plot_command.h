// `transferwatch plot`: the dashboard's charts as standalone SVG files, for papers and reports.
// The same code path as the daemon's pages (reports/plot_data.h -> plots/), so a file shows
// exactly what the dashboard shows.
#pragma once

#include <string>
#include <vector>

#include "cli/commands.h"

namespace tw::cli {

struct PlotOptions {
  std::string run;
  std::string out_dir = ".";
  // Scatter plots of these variants; empty: every variant whose pool holds a checkpoint of the
  // run (none: only the accuracy chart).
  std::vector<std::string> variants;
  std::string format = "svg";  // the only file format
};

// Writes <out>/run-<RUN>-accuracy.svg and <out>/scatter-<VARIANT>.svg (the run's checkpoints
// highlighted), replacing files of those names atomically; names keep [A-Za-z0-9._-] and turn
// anything else into '_'. Lists what it wrote. NotFound for an unknown run or variant,
// InvalidArgument for another format or a variant without a reference.
Status PlotCommand(CommandContext& ctx, const PlotOptions& options);

// "run <a>/1" -> "run__a__1": a name that is safe as one file-name component.
std::string FileNamePart(const std::string& name);

}  // namespace tw::cli
