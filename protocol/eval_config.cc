#include "protocol/eval_config.h"

#include <cmath>
#include <cstdint>
#include <limits>
#include <nlohmann/json.hpp>

namespace tw {
namespace {

nlohmann::json ToJson(const EvalConfig& c) {
  return {{"img_size", c.img_size},
          {"crop_pct", c.crop_pct},
          {"interpolation", c.interpolation},
          {"mean", c.mean},
          {"std", c.std},
          {"channels", c.channels},
          {"fast_jpeg", c.fast_jpeg},
          {"skip_bad_images", c.skip_bad_images},
          {"batch_size", c.batch_size},
          {"dtype", c.dtype},
          {"device", c.device}};
}

bool IsDevice(const std::string& device) {
  if (device == "cpu" || device == "cuda") return true;
  if (device.rfind("cuda:", 0) != 0 || device.size() == 5 || device.size() > 8) return false;
  for (size_t i = 5; i < device.size(); ++i) {
    if (device[i] < '0' || device[i] > '9') return false;
  }
  return true;
}

}  // namespace

Status ValidateEvalConfig(const EvalConfig& c) {
  auto bad = [](const std::string& what) { return InvalidArgumentError("eval config: " + what); };
  if (c.img_size < 1 || c.img_size > 4096) return bad("img_size must be in 1..4096");
  if (!(c.crop_pct > 0) || c.crop_pct > 2) return bad("crop_pct must be in (0, 2]");
  if (c.interpolation != "bilinear" && c.interpolation != "bicubic") {
    return bad("interpolation must be bilinear or bicubic, not \"" + c.interpolation + "\"");
  }
  if (c.channels != 1 && c.channels != 3) return bad("channels must be 1 or 3");
  if (c.mean.size() != static_cast<size_t>(c.channels) ||
      c.std.size() != static_cast<size_t>(c.channels)) {
    return bad("mean and std need one value per channel (" + std::to_string(c.channels) + ")");
  }
  for (double m : c.mean) {
    if (!std::isfinite(m)) return bad("mean values must be finite");
  }
  for (double s : c.std) {
    if (!(s > 0) || !std::isfinite(s)) return bad("std values must be positive");
  }
  if (c.batch_size < 1 || c.batch_size > 4096) return bad("batch_size must be in 1..4096");
  if (c.dtype != "fp32" && c.dtype != "bf16") {
    return bad("dtype must be fp32 or bf16, not \"" + c.dtype + "\"");
  }
  if (!IsDevice(c.device))
    return bad("device must be cpu, cuda or cuda:N, not \"" + c.device + "\"");
  return OkStatus();
}

Status ApplyEvalConfigJson(const std::string& json_text, EvalConfig* c) {
  TW_ASSIGN_OR_RETURN(nlohmann::json doc, ParseJson(json_text, "eval config"));
  if (!doc.is_object()) return InvalidArgumentError("eval config: not a JSON object");
  for (const auto& item : doc.items()) {
    // Named references, not a structured binding: lambdas cannot capture those before C++20
    // (clang refuses; the fuzz build in fuzz/ uses clang).
    const std::string& key = item.key();
    const nlohmann::json& value = item.value();
    auto type_error = [&](const char* expected) {
      return InvalidArgumentError("eval config: " + key + " must be " + expected);
    };
    auto numbers = [&](std::vector<double>* out) -> Status {
      if (!value.is_array()) return type_error("a list of numbers");
      out->clear();
      for (const auto& v : value) {
        if (!v.is_number()) return type_error("a list of numbers");
        out->push_back(v.get<double>());
      }
      return OkStatus();
    };
    if (key == "img_size" || key == "channels" || key == "batch_size") {
      if (!value.is_number_integer()) return type_error("an integer");
      // Range-checked before narrowing: 4294967520 must not become 224 (found by fuzzing).
      constexpr int64_t kMax = std::numeric_limits<int>::max();
      const bool out_of_range = value.is_number_unsigned()
                                    ? value.get<uint64_t>() > static_cast<uint64_t>(kMax)
                                    : value.get<int64_t>() < -kMax || value.get<int64_t>() > kMax;
      if (out_of_range) return InvalidArgumentError("eval config: " + key + " is out of range");
      int v = static_cast<int>(value.get<int64_t>());
      (key == "img_size" ? c->img_size : key == "channels" ? c->channels : c->batch_size) = v;
    } else if (key == "crop_pct") {
      if (!value.is_number()) return type_error("a number");
      c->crop_pct = value.get<double>();
    } else if (key == "interpolation" || key == "dtype" || key == "device") {
      if (!value.is_string()) return type_error("a string");
      (key == "interpolation" ? c->interpolation
       : key == "dtype"       ? c->dtype
                              : c->device) = value.get<std::string>();
    } else if (key == "mean") {
      TW_RETURN_IF_ERROR(numbers(&c->mean));
    } else if (key == "std") {
      TW_RETURN_IF_ERROR(numbers(&c->std));
    } else if (key == "fast_jpeg" || key == "skip_bad_images") {
      if (!value.is_boolean()) return type_error("true or false");
      (key == "fast_jpeg" ? c->fast_jpeg : c->skip_bad_images) = value.get<bool>();
    } else {
      return InvalidArgumentError("eval config: unknown key \"" + key + "\"");
    }
  }
  return OkStatus();
}

StatusOr<HashedJson> HashEvalConfig(const EvalConfig& config) {
  TW_RETURN_IF_ERROR(ValidateEvalConfig(config));
  return HashCanonicalJson(ToJson(config));
}

std::string PreprocessingJson(const EvalConfig& c) {
  nlohmann::json doc = {
      {"img_size", c.img_size}, {"crop_pct", c.crop_pct}, {"interpolation", c.interpolation},
      {"mean", c.mean},         {"std", c.std},           {"channels", c.channels}};
  auto canonical = CanonicalJson(doc);
  return canonical.ok() ? *canonical : "{}";
}

void NormalizeEvalConfig(bool resize_and_crop, EvalConfig* config) {
  if (!resize_and_crop) {
    config->crop_pct = 1.0;
    config->interpolation = "bicubic";
    config->fast_jpeg = false;
  }
  if (config->device == "cuda") config->device = "cuda:0";
}

StatusOr<std::string> EvaluatorEvaluationKey(const std::string& checkpoint_sha256,
                                             const std::optional<std::string>& arch_sha256,
                                             const std::string& dataset,
                                             const std::string& manifest_sha256,
                                             const std::string& eval_config_sha256,
                                             const std::string& evaluator_version) {
  nlohmann::json parts = {{"kind", "evaluator"},
                          {"checkpoint", checkpoint_sha256},
                          {"arch", arch_sha256 ? nlohmann::json(*arch_sha256) : nullptr},
                          {"dataset", dataset},
                          {"manifest", manifest_sha256},
                          {"eval_config", eval_config_sha256},
                          {"evaluator", evaluator_version}};
  TW_ASSIGN_OR_RETURN(HashedJson hashed, HashCanonicalJson(parts));
  return hashed.sha256;
}

}  // namespace tw
