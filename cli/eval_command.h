// `transferwatch eval CKPT --dataset NAME...`: one-shot evaluation through transferwatch-eval,
// recorded in the store under each evaluation key; and `predictions export`.
#pragma once

#include <optional>
#include <string>
#include <vector>

#include "cli/commands.h"
#include "cli/dataset_commands.h"

namespace tw::cli {

struct EvalOptions {
  std::string checkpoint;  // a file
  std::vector<std::string> datasets;
  std::optional<std::string> arch;
  std::optional<std::string> run;  // default: the checkpoint's folder name
  PreprocessingFlags preprocessing;
  std::optional<int> batch_size;
  std::optional<std::string> dtype;
  std::optional<std::string> device;
  bool fast_jpeg = false;
  std::optional<std::string> normaliser;  // AlexNet error table for corruption suites
  int threads = 0;
  int decode_threads = 0;  // 0: 1
  bool skip_bad_images = false;
  bool force = false;  // run even when the key is recorded: checks the result is reproduced
  bool progress = false;
  std::string evaluator;  // transferwatch-eval's path
  std::string work_dir;   // where job files go (a private temporary folder is made inside)
};
Status Eval(CommandContext& ctx, const EvalOptions& options);

struct ExportOptions {
  std::string checkpoint;  // any checkpoint name (hash prefix, RUN/FILE)
  std::string dataset;
  std::string format = "csv";  // csv | jsonl
};
Status ExportPredictions(CommandContext& ctx, const ExportOptions& options);

// $TRANSFERWATCH_EVAL, else transferwatch-eval beside this program, else on PATH.
std::string FindEvaluator();

}  // namespace tw::cli
