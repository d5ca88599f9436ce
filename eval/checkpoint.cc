#include "eval/checkpoint.h"

#include <ATen/detail/CUDAHooksInterface.h>
#include <torch/script.h>

#include <algorithm>
#include <cctype>
#include <unordered_map>
#include <unordered_set>
#include <utility>

#include "eval/state_dict.h"

namespace tw::eval {
namespace {

using internal::ArchiveContents;
using internal::ExceptionReason;

// "[64,3,7,7]": the compact form the messages use.
std::string ShapeString(c10::IntArrayRef sizes) {
  std::string text = "[";
  for (size_t i = 0; i < sizes.size(); ++i) {
    if (i > 0) text += ",";
    text += std::to_string(sizes[i]);
  }
  return text + "]";
}

// Python's dtype names: what the people who wrote the checkpoint know.
std::string DtypeName(c10::ScalarType type) {
  switch (type) {
    case c10::kFloat:
      return "float32";
    case c10::kDouble:
      return "float64";
    case c10::kHalf:
      return "float16";
    case c10::kBFloat16:
      return "bfloat16";
    case c10::kLong:
      return "int64";
    case c10::kInt:
      return "int32";
    case c10::kShort:
      return "int16";
    case c10::kChar:
      return "int8";
    case c10::kByte:
      return "uint8";
    case c10::kBool:
      return "bool";
    case c10::kComplexFloat:
      return "complex64";
    case c10::kComplexDouble:
      return "complex128";
    default:
      return c10::toString(type);
  }
}

// Floating types convert into each other on copy (a float16 checkpoint into a float32 model);
// integers into floats do not: such a mismatch means the names line up by accident.
enum class DtypeClass { kFloating, kComplex, kIntegral };
DtypeClass ClassOf(c10::ScalarType type) {
  if (c10::isFloatingType(type)) return DtypeClass::kFloating;
  if (c10::isComplexType(type)) return DtypeClass::kComplex;
  return DtypeClass::kIntegral;
}

// "2 missing (...): a, b" with at most 10 items. Shape and type entries contain commas, so
// they are separated by "; ", and each kind ends with ". ".
void AppendList(const std::string& singular, const std::string& plural, const char* separator,
                const std::vector<std::string>& items, std::string* message) {
  if (items.empty()) return;
  *message +=
      " " + std::to_string(items.size()) + " " + (items.size() == 1 ? singular : plural) + ": ";
  for (size_t i = 0; i < items.size() && i < 10; ++i) {
    if (i > 0) *message += separator;
    *message += items[i];
  }
  if (items.size() > 10) {
    *message += separator + ("... and " + std::to_string(items.size() - 10) + " more");
  }
  *message += ".";
}

StatusOr<c10::Device> ParseDevice(const std::string& text) {
  if (text == "cpu") return c10::Device(c10::kCPU);
  int index = -1;
  if (text == "cuda") {
    index = 0;
  } else if (text.rfind("cuda:", 0) == 0 && text.size() > 5 && text.size() <= 8 &&
             std::all_of(text.begin() + 5, text.end(),
                         [](char c) { return std::isdigit(static_cast<unsigned char>(c)); })) {
    index = std::stoi(text.substr(5));
  } else {
    return InvalidArgumentError("device '" + text + "': expected cpu, cuda or cuda:N");
  }
  const at::CUDAHooksInterface& cuda = at::detail::getCUDAHooks();
  if (!cuda.hasCUDA()) {
    // The stub hooks of a CPU-only LibTorch throw here; a CUDA build answers.
    bool built_with_cuda = true;
    try {
      (void)cuda.versionCUDART();
    } catch (const std::exception&) {
      built_with_cuda = false;
    }
    if (!built_with_cuda) {
      return FailedPreconditionError("device '" + text +
                                     "': this build of transferwatch-eval has no CUDA");
    }
    return FailedPreconditionError("device '" + text + "': no CUDA device is visible");
  }
  const int count = cuda.getNumGPUs();
  if (index >= count) {
    return FailedPreconditionError("device '" + text + "': only " + std::to_string(count) +
                                   " CUDA device(s) visible");
  }
  return c10::Device(c10::kCUDA, static_cast<c10::DeviceIndex>(index));
}

StatusOr<torch::jit::Module> LoadScript(const std::string& path, c10::Device device) {
  try {
    return torch::jit::load(path, device);
  } catch (const std::exception& e) {
    return InvalidArgumentError(path +
                                ": cannot load the TorchScript archive: " + ExceptionReason(e));
  }
}

// Copies the state dict into the architecture's parameters and buffers, or says every way they
// differ. Nothing is copied unless everything matches, so a failed load leaves no half-updated
// module behind.
Status CopyStateDict(const std::vector<std::pair<std::string, at::Tensor>>& tensors,
                     torch::jit::Module& module, const std::string& path,
                     const std::string& arch_path) {
  std::unordered_map<std::string, at::Tensor> targets;
  std::vector<std::string> target_order;
  for (const auto& parameter : module.named_parameters(/*recurse=*/true)) {
    if (targets.emplace(parameter.name, parameter.value).second) {
      target_order.push_back(parameter.name);
    }
  }
  for (const auto& buffer : module.named_buffers(/*recurse=*/true)) {
    if (targets.emplace(buffer.name, buffer.value).second) target_order.push_back(buffer.name);
  }

  std::vector<std::string> missing, unexpected, shapes, types;
  std::unordered_set<std::string> in_file;
  for (const auto& [name, source] : tensors) {
    in_file.insert(name);
    auto it = targets.find(name);
    if (it == targets.end()) {
      unexpected.push_back(name);
      continue;
    }
    const at::Tensor& target = it->second;
    if (source.sizes() != target.sizes()) {
      shapes.push_back(name + ": file " + ShapeString(source.sizes()) + ", model " +
                       ShapeString(target.sizes()));
    } else if (ClassOf(source.scalar_type()) != ClassOf(target.scalar_type())) {
      types.push_back(name + ": file " + DtypeName(source.scalar_type()) + ", model " +
                      DtypeName(target.scalar_type()));
    }
  }
  for (const std::string& name : target_order) {
    if (in_file.count(name) == 0) missing.push_back(name);
  }
  if (!missing.empty() || !unexpected.empty() || !shapes.empty() || !types.empty()) {
    std::string message =
        path + ": the state dict does not match the architecture " + arch_path + ".";
    AppendList("missing (in the architecture, not in the file)",
               "missing (in the architecture, not in the file)", ", ", missing, &message);
    AppendList("unexpected (in the file, not in the architecture)",
               "unexpected (in the file, not in the architecture)", ", ", unexpected, &message);
    AppendList("shape mismatch", "shape mismatches", "; ", shapes, &message);
    AppendList("type mismatch (integer and floating-point tensors do not convert)",
               "type mismatches (integer and floating-point tensors do not convert)", "; ", types,
               &message);
    const bool all_prefixed = !tensors.empty() && unexpected.size() == tensors.size() &&
                              std::all_of(tensors.begin(), tensors.end(), [](const auto& entry) {
                                return entry.first.rfind("module.", 0) == 0;
                              });
    if (all_prefixed) {
      message +=
          " Every name in the file starts with \"module.\": it was saved from a "
          "DataParallel/DistributedDataParallel wrapper; save model.module.state_dict().";
    }
    return InvalidArgumentError(message);
  }

  try {
    torch::NoGradGuard no_grad;
    for (const auto& [name, source] : tensors) targets.at(name).copy_(source);
  } catch (const std::exception& e) {
    return InvalidArgumentError(path + ": copying the state dict into " + arch_path +
                                " failed: " + ExceptionReason(e));
  }
  return OkStatus();
}

// optimize_for_inference, else freeze, else the module as it is. Both work on a clone, so a
// failure leaves `model.module` untouched.
void Optimize(LoadedModel& model) {
  try {
    model.module = torch::jit::optimize_for_inference(model.module);
    model.optimized = true;
    return;
  } catch (const std::exception& e) {
    model.notes.push_back("optimize_for_inference failed: " + ExceptionReason(e) +
                          "; using torch::jit::freeze");
  }
  try {
    model.module = torch::jit::freeze(model.module);
  } catch (const std::exception& e) {
    model.notes.push_back("torch::jit::freeze failed: " + ExceptionReason(e) +
                          "; using the module as loaded");
  }
}

std::string TypeName(const c10::IValue& value) {
  try {
    return value.type()->annotation_str();
  } catch (const std::exception&) {
    return value.tagKind();
  }
}

}  // namespace

const char* CheckpointFormatName(CheckpointFormat format) {
  return format == CheckpointFormat::kTorchScript ? "torchscript" : "state_dict";
}

StatusOr<CheckpointFormat> DetectCheckpointFormat(const std::string& path) {
  TW_ASSIGN_OR_RETURN(internal::ArchiveProbe probe, internal::ProbeArchive(path));
  switch (probe.contents) {
    case ArchiveContents::kTorchScript:
      return CheckpointFormat::kTorchScript;
    case ArchiveContents::kTorchSave:
      return CheckpointFormat::kStateDict;
    case ArchiveContents::kNotZip:
      if (probe.legacy_torch_save) {
        return InvalidArgumentError(
            path + ": not a TorchScript or state-dict file: " + probe.reason +
            " (re-save it with torch.save(..., _use_new_zipfile_serialization=True))");
      }
      [[fallthrough]];
    case ArchiveContents::kOtherZip:
      break;
  }
  return InvalidArgumentError(path + ": not a TorchScript or state-dict file: " + probe.reason);
}

namespace {

StatusOr<LoadedModel> LoadCheckpointImpl(const std::string& path,
                                         const std::optional<std::string>& arch_path,
                                         const LoadOptions& options) {
  TW_ASSIGN_OR_RETURN(c10::Device device, ParseDevice(options.device));
  TW_ASSIGN_OR_RETURN(CheckpointFormat format, DetectCheckpointFormat(path));
  LoadedModel model;
  model.format = format;
  model.device = device;
  if (format == CheckpointFormat::kTorchScript) {
    if (arch_path.has_value()) {
      model.notes.push_back("--arch " + *arch_path + " ignored: " + path +
                            " is a TorchScript archive");
    }
    TW_ASSIGN_OR_RETURN(model.module, LoadScript(path, device));
  } else {
    if (!arch_path.has_value()) {
      return InvalidArgumentError(path + " is a state dict: give its architecture with --arch");
    }
    TW_ASSIGN_OR_RETURN(CheckpointFormat arch_format, DetectCheckpointFormat(*arch_path));
    if (arch_format != CheckpointFormat::kTorchScript) {
      return InvalidArgumentError(*arch_path +
                                  " is a state dict; --arch needs a TorchScript architecture "
                                  "file (torch.jit.save(torch.jit.script(model), ...))");
    }
    TW_ASSIGN_OR_RETURN(auto tensors, ReadStateDict(path));
    TW_ASSIGN_OR_RETURN(model.module, LoadScript(*arch_path, device));
    TW_RETURN_IF_ERROR(CopyStateDict(tensors, model.module, path, *arch_path));
  }
  const std::string& source = format == CheckpointFormat::kTorchScript ? path : *arch_path;
  try {
    if (!model.module.find_method("forward").has_value()) {
      return InvalidArgumentError(source + ": the TorchScript module has no forward method");
    }
    model.module.eval();  // before freezing: freeze folds `training` into the graph
    for (const at::Tensor& parameter : model.module.parameters(/*recurse=*/true)) {
      model.parameters += parameter.numel();
    }
  } catch (const std::exception& e) {
    return InvalidArgumentError(source + ": " + ExceptionReason(e));
  }
  if (options.dtype == "bf16") {
    try {
      model.module.to(at::kBFloat16);
      model.dtype = at::kBFloat16;
    } catch (const std::exception& e) {
      return InvalidArgumentError(source +
                                  ": cannot convert the model to bf16: " + ExceptionReason(e));
    }
  } else if (options.dtype != "fp32") {
    return InvalidArgumentError("dtype must be fp32 or bf16, not \"" + options.dtype + "\"");
  }
  if (options.optimize) Optimize(model);
  return model;
}

}  // namespace

StatusOr<LoadedModel> LoadCheckpoint(const std::string& path,
                                     const std::optional<std::string>& arch_path,
                                     const LoadOptions& options) {
  // Each LibTorch call above catches what it throws and says what it was doing; this is the net
  // under everything else (allocation failures, iteration over a module's members).
  try {
    return LoadCheckpointImpl(path, arch_path, options);
  } catch (const std::exception& e) {
    return InvalidArgumentError(path + ": cannot load: " + ExceptionReason(e));
  } catch (...) {
    return UnknownError(path + ": cannot load: unknown exception");
  }
}

StatusOr<at::Tensor> Forward(LoadedModel& model, const at::Tensor& batch) {
  if (!batch.defined() || batch.dim() != 4) {
    return InvalidArgumentError("input batch has shape " +
                                (batch.defined() ? ShapeString(batch.sizes()) : "<undefined>") +
                                ", expected [N, C, H, W]");
  }
  const int64_t n = batch.size(0);
  c10::IValue output;
  try {
    c10::InferenceMode inference;
    at::Tensor input = batch;
    if (input.device() != model.device || input.scalar_type() != model.dtype) {
      input = input.to(model.device, model.dtype);
    }
    output = model.module.forward({input});
  } catch (const std::exception& e) {
    return InvalidArgumentError("model forward failed on input " + ShapeString(batch.sizes()) +
                                ": " + ExceptionReason(e));
  }
  try {
    at::Tensor logits;
    if (output.isTensor()) {
      logits = output.toTensor();
    } else if (output.isTuple() && !output.toTupleRef().elements().empty() &&
               output.toTupleRef().elements()[0].isTensor()) {
      logits = output.toTupleRef().elements()[0].toTensor();
    } else if (output.isList() && !output.toListRef().empty() && output.toListRef()[0].isTensor()) {
      logits = output.toListRef()[0].toTensor();
    } else {
      return InvalidArgumentError("model returned a " + TypeName(output) +
                                  ", expected a Tensor (or a tuple whose first element is one)");
    }
    if (logits.dim() != 2 || logits.size(0) != n) {
      return InvalidArgumentError("model output has shape " + ShapeString(logits.sizes()) +
                                  ", expected [N, classes] logits with N = " + std::to_string(n));
    }
    if (!logits.is_floating_point()) {
      return InvalidArgumentError("model output has dtype " + DtypeName(logits.scalar_type()) +
                                  ", expected floating-point logits");
    }
    return logits;
  } catch (const std::exception& e) {
    return InvalidArgumentError("reading the model output failed: " + ExceptionReason(e));
  }
}

}  // namespace tw::eval
