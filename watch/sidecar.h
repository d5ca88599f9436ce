// The optional JSON file a training script writes beside a checkpoint (epoch_012.pt ->
// epoch_012.json) to say what the file name cannot: the step, the epoch, the hyperparameters and
// the commit of the training code. It is outside input: every key is checked, unknown keys are
// refused (a misspelt "stpe" would otherwise silently lose the step), and errors name the file
// and the key.
//
// Schema (every key optional):
//   {"step": 4000, "epoch": 12.5, "hparams": {"lr": 0.1}, "git_commit": "1a2b3c4"}
//   step        integer >= 0
//   epoch       finite number >= 0
//   hparams     object (any JSON inside; stored as canonical JSON)
//   git_commit  7..64 hex digits (stored lowercase)
//
// Thread safety: the functions are thread-safe.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

#include "common/status.h"

namespace tw::watch {

// Sidecars larger than this are refused: a real one is a few hundred bytes, and the limit keeps
// a wrong file (a renamed dataset) from being read into memory.
inline constexpr uint64_t kMaxSidecarBytes = 1u << 20;

struct Sidecar {
  std::optional<int64_t> step;
  std::optional<double> epoch;
  std::string hparams_json = "{}";  // Canonical JSON of the "hparams" object.
  std::optional<std::string> git_commit;
  std::string sha256;          // Lowercase hex SHA-256 of the sidecar file's bytes.
  std::string canonical_json;  // The whole validated sidecar, canonical (git_commit lowercased).
};

// Parses and validates sidecar text. `display_name` starts every error message
// ("epoch_012.json: unknown key 'stpe' (allowed: step, epoch, hparams, git_commit)").
// Errors are InvalidArgument.
StatusOr<Sidecar> ParseSidecar(std::string_view bytes, std::string_view display_name);

// The sidecar path of a checkpoint: beside it, named after the checkpoint's name without its
// last extension ("/r/run1/epoch_012.pt" -> "/r/run1/epoch_012.json").
std::string SidecarPathFor(const std::string& checkpoint_path);

// Reads and parses the sidecar of `checkpoint_path`; nullopt when there is none. The sidecar is
// opened without following a symlink (a link could point anywhere on the machine and its
// contents would end up in error messages); a symlink, a non-regular file or one over
// kMaxSidecarBytes is InvalidArgument. Other read errors as ErrnoToStatus.
StatusOr<std::optional<Sidecar>> ReadSidecarFor(const std::string& checkpoint_path);

}  // namespace tw::watch
