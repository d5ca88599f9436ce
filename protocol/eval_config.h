// The evaluation config: everything besides the checkpoint and the dataset that can change a
// result (preprocessing, batch size, dtype, device). Its canonical JSON is hashed into the
// evaluation key; docs/evaluation.md lists the fields.
#pragma once

#include <optional>
#include <string>
#include <vector>

#include "common/canonical_json.h"
#include "common/status.h"

namespace tw {

struct EvalConfig {
  // Preprocessing, as timm's eval transform (defaults: timm's ImageNet ones).
  int img_size = 224;
  double crop_pct = 0.875;  // resize the shorter side to floor(img_size / crop_pct)
  std::string interpolation = "bicubic";
  std::vector<double> mean = {0.485, 0.456, 0.406};
  std::vector<double> std = {0.229, 0.224, 0.225};
  int channels = 3;
  bool fast_jpeg = false;  // opt-in DCT-domain downscaling: faster on large JPEGs, other pixels
  // Unusable images are recorded as excluded instead of failing the dataset: other numbers.
  bool skip_bad_images = false;
  // Inference.
  int batch_size = 32;
  std::string dtype = "fp32";  // fp32 | bf16
  std::string device = "cpu";  // cpu | cuda | cuda:N
};

// Ranges and names; InvalidArgument naming the field.
Status ValidateEvalConfig(const EvalConfig& config);

// Applies the keys present in a JSON object (a dataset's default config, or overrides) to
// `config`. Unknown keys and wrong types are InvalidArgument naming them.
Status ApplyEvalConfigJson(const std::string& json_text, EvalConfig* config);

// The canonical JSON (every field, always) and its versioned hash.
StatusOr<HashedJson> HashEvalConfig(const EvalConfig& config);

// Clears what cannot change a result under a protocol, so it cannot split one result into
// several keys: without resize and crop (corruption suites) crop_pct, interpolation and
// fast_jpeg do nothing. "cuda" means "cuda:0".
void NormalizeEvalConfig(bool resize_and_crop, EvalConfig* config);

// The preprocessing fields alone, as JSON text: what `dataset add` stores as a default.
std::string PreprocessingJson(const EvalConfig& config);

// Key of an evaluator result: checkpoint, architecture file (state dicts), dataset and its
// manifest (files, labels and protocol), eval config and evaluator version. Same key, same
// predictions. (The dataset's name is in it so that two datasets registered with the same
// files each get their own recorded result.)
StatusOr<std::string> EvaluatorEvaluationKey(const std::string& checkpoint_sha256,
                                             const std::optional<std::string>& arch_sha256,
                                             const std::string& dataset,
                                             const std::string& manifest_sha256,
                                             const std::string& eval_config_sha256,
                                             const std::string& evaluator_version);

}  // namespace tw
