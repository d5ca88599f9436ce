// Reading `torch.save(...)` state-dict files without Python.
//
// LibTorch 1.13's own readers (torch::pickle_load) cannot read what
// `torch.save(model.state_dict())` writes: its Unpickler maps collections.OrderedDict to None and
// lacks the SETITEM, APPEND and BUILD forms Python emits (pytorch/pytorch#37213, #100741). We check
// and rewrite the pickle's opcodes into the subset that Unpickler understands, then let it build
// the tensors. The check is a whitelist: only tensors and plain containers are accepted, so no
// Python class named in a file is ever constructed (a checkpoint is a program; we never execute
// one).
//
// The header stays free of LibTorch (at::Tensor is only declared) so that including it costs
// nothing; callers that use the tensors include <ATen/core/Tensor.h> or <torch/script.h>.
#pragma once

#include <exception>
#include <memory>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "common/status.h"

namespace at {
class Tensor;
}  // namespace at
namespace caffe2::serialize {
class PyTorchStreamReader;
}  // namespace caffe2::serialize

namespace tw::eval {

// Reads a torch.save(...) zip file holding a dict of tensors: a plain dict, an OrderedDict (what
// model.state_dict() returns, with its _metadata attribute), or a dict with the tensors under
// "state_dict" or "model" (training scripts save {"epoch": ..., "state_dict": sd}; the first of
// those keys whose value is a dict of tensors is taken; other keys may hold ints, floats,
// strings, lists and dicts). Returns name -> tensor, on the CPU whatever device they were saved
// from, in the file's order.
//
// Errors (all kInvalidArgument, except kNotFound / kPermissionDenied when the file cannot be
// opened), each naming the file:
//   not a zip            "PATH: not a torch zip archive (legacy torch.save files are not
//                         supported; re-save with torch.save(...,
//                         _use_new_zipfile_serialization=True))"
//   TorchScript archive  "PATH is a TorchScript archive, not a state dict"
//   no dict of tensors   names the top-level keys found
//   a Python class       names the class (e.g. "argparse.Namespace") and why it is refused
//   corrupt data         the reason (truncated pickle, a tensor past the end of its storage, ...)
StatusOr<std::vector<std::pair<std::string, at::Tensor>>> ReadStateDict(const std::string& path);

namespace internal {

// What a file is, judged from its first bytes and its zip central directory only; shared with
// DetectCheckpointFormat so both agree.
enum class ArchiveContents {
  kNotZip,       // not a zip at all, or a damaged/truncated one; see `reason`
  kTorchScript,  // torch.jit.save: code/ and constants.pkl
  kTorchSave,    // torch.save: data.pkl and data/<n> records, no code
  kOtherZip,     // a zip PyTorch can open that is neither
};
struct ArchiveProbe {
  ArchiveContents contents = ArchiveContents::kNotZip;
  std::shared_ptr<caffe2::serialize::PyTorchStreamReader> reader;  // unless kNotZip
  std::string reason;              // kNotZip: why ("empty file", "truncated or damaged zip ...")
  bool legacy_torch_save = false;  // kNotZip: starts like a pre-1.6 torch.save pickle
};
// kNotFound / kPermissionDenied / kInvalidArgument (a directory) name the file; everything about
// the content is reported in the probe, never as an error.
StatusOr<ArchiveProbe> ProbeArchive(const std::string& path);

// Checks a protocol-2 pickle as torch.save writes it and rewrites it for torch::jit::Unpickler
// (exposed for tests):
//   <OrderedDict> () REDUCE      -> EMPTY_DICT
//   dict key value SETITEM       -> dict MARK key value SETITEMS
//   list item APPEND             -> list MARK item APPENDS
//   dict state BUILD             -> dict state kBuildSentinel TUPLE3 (ReadStateDict unwraps it)
//   LONG1 of n < 8 bytes         -> LONG1 of 8 bytes
// Anything else Python could put there (other globals, protocols, opcodes), and any structure
// that would make the Unpickler index an empty stack, is an error: the result is always safe to
// give to the Unpickler. Messages do not name the file.
StatusOr<std::string> RewriteTorchSavePickle(std::string_view pickle);

// The third element of the tuple that a rewritten BUILD leaves; no Python string starts with \x01.
inline constexpr std::string_view kBuildSentinel =
    "\x01"
    "transferwatch:BUILD";

// The reason a LibTorch exception gives, in one line: c10::Error's message without the C++
// stack trace it carries and, for an error raised inside TorchScript code, the error itself
// rather than the interpreter's "The following operation failed" preamble and traceback.
std::string ExceptionReason(const std::exception& e);

}  // namespace internal
}  // namespace tw::eval
