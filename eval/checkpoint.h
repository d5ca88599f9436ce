// Loading a checkpoint into a runnable TorchScript module, and running it on a batch.
//
// Two formats, told apart by content (never by file name):
//   - a TorchScript archive (torch.jit.save): loaded as it is;
//   - a state dict (torch.save of a dict of tensors) plus a TorchScript architecture file of the
//     same model (--arch): the tensors are copied by name into the architecture's parameters
//     and buffers.
// Every failure is a Status naming the file and the reason; no exception leaves this code. A
// crash inside LibTorch on a hostile file is still possible, which is why the daemon runs this
// in a child process (transferwatch-eval).
//
// Threads: the caller sets them (at::set_num_threads) before loading; nothing here changes
// them. A LoadedModel is used from one thread at a time.
#pragma once

#include <torch/script.h>  // LoadedModel holds a torch::jit::Module by value.

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "common/status.h"

namespace tw::eval {

enum class CheckpointFormat { kTorchScript, kStateDict };

// "torchscript" / "state_dict", for logs and JSON.
const char* CheckpointFormatName(CheckpointFormat format);

// Looks at the file's zip central directory without running or unpickling anything.
// Errors: kNotFound / kPermissionDenied naming the file; not a zip, truncated, empty or a zip of
// something else -> kInvalidArgument "PATH: not a TorchScript or state-dict file: <what it is>".
StatusOr<CheckpointFormat> DetectCheckpointFormat(const std::string& path);

struct LoadOptions {
  // "cpu" | "cuda" | "cuda:N". CUDA with a LibTorch built without it -> kFailedPrecondition
  // "this build of transferwatch-eval has no CUDA".
  std::string device = "cpu";
  // Apply torch::jit::optimize_for_inference (which freezes) after loading. If it throws, fall
  // back to torch::jit::freeze, then to the module as loaded, saying so in LoadedModel::notes.
  bool optimize = true;
  // "fp32" | "bf16": the weights are converted before optimising, inputs at Forward. bf16 uses
  // AVX512-BF16 on CPUs that have it; it changes numerics, so it is part of the eval config.
  std::string dtype = "fp32";
};

struct LoadedModel {
  torch::jit::Module module;  // in eval() mode, on `device`
  CheckpointFormat format = CheckpointFormat::kTorchScript;
  c10::Device device = c10::Device(c10::kCPU);
  c10::ScalarType dtype = c10::kFloat;
  bool optimized = false;  // optimize_for_inference succeeded
  // What a reader of the results should know, e.g. "optimize_for_inference failed: ...; using
  // torch::jit::freeze".
  std::vector<std::string> notes;
  int64_t parameters = 0;  // number of parameter elements (buffers not counted)
};

// TorchScript: torch::jit::load (an `arch_path` is ignored, with a note).
// State dict: requires `arch_path` (else kInvalidArgument "PATH is a state dict: give its
// architecture with --arch"), a TorchScript file; ReadStateDict's tensors are copied by name
// into its named parameters and buffers (recursive names like "layer1.0.conv1.weight"). Every
// mismatch is an error that names it, up to 10 names per kind then "... and N more": missing
// (in the architecture, not in the file), unexpected (in the file, not in the architecture),
// shape ("conv1.weight: file [64,3,7,7], model [64,3,3,3]") and type (integer vs floating
// point; floating types convert, e.g. float16 -> float32).
// Also kInvalidArgument when the module has no forward method.
StatusOr<LoadedModel> LoadCheckpoint(const std::string& path,
                                     const std::optional<std::string>& arch_path,
                                     const LoadOptions& options);

// Runs the model on `batch` [N, C, H, W] (moved to the model's device if needed) under
// c10::InferenceMode and returns its logits [N, K], floating point, on the model's device. The
// model may return a Tensor or a tuple/list whose first element is one (as (logits, aux)
// models do). Errors (kInvalidArgument): "model output has shape [..], expected [N, classes]
// logits", "model returned a <type>, expected a Tensor", or, when forward throws (wrong input
// size, ...), "model forward failed on input [..]: <LibTorch's reason>". The result is an
// inference tensor: read it, or clone it before modifying it outside InferenceMode.
StatusOr<at::Tensor> Forward(LoadedModel& model, const at::Tensor& batch);

}  // namespace tw::eval
