// `transferwatch dataset add|list|show|verify|remove`.
#pragma once

#include <optional>
#include <string>
#include <vector>

#include "cli/commands.h"
#include "protocol/eval_config.h"

namespace tw::cli {

// Preprocessing flags shared by `dataset add` (a dataset's defaults) and `eval` (overrides).
struct PreprocessingFlags {
  std::optional<int> img_size;
  std::optional<double> crop_pct;
  std::optional<std::string> interpolation;
  std::vector<double> mean;
  std::vector<double> std;
  std::optional<int> channels;
  // Overrides the fields that were given.
  void ApplyTo(EvalConfig* config) const;
};

struct DatasetAddOptions {
  std::string name;
  std::string dir;
  std::optional<std::string> preset;
  std::optional<std::string> layout;
  std::optional<std::string> classes;
  std::optional<std::string> subset;
  std::optional<std::string> labels;
  std::optional<std::string> reference;
  PreprocessingFlags preprocessing;
  int threads = 0;
  bool progress = false;  // a terminal: show hashing progress on stderr
};
Status DatasetAdd(CommandContext& ctx, const DatasetAddOptions& options);
Status DatasetShow(CommandContext& ctx, const std::string& name);
// Fails (kDataLoss, exit 1) when files were added, are missing or changed.
Status DatasetVerify(CommandContext& ctx, const std::string& name, int threads, bool progress);
Status DatasetRemove(CommandContext& ctx, const std::string& name);

}  // namespace tw::cli
