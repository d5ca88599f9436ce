// What a file in a watched folder is, judged without loading it: its first bytes and, for a zip,
// its central directory. Nothing is decompressed or unpickled here; loading a checkpoint is
// running code (pytorch SECURITY.md) and only the sandboxed evaluator does that.
//
// Why the central directory: torch.save (since 1.6) and torch.jit.save write a zip whose
// End-Of-Central-Directory record comes last, so an archive still being written, or cut short by
// a full disk or an interrupted copy, has none ("PytorchStreamReader failed finding central
// directory"). libzip's zip_open with ZIP_CHECKCONS decides whether the record is present and
// consistent (the directory ends where the record starts, every local header matches its
// directory entry and lies before the directory). A pre-Zip torch.save file is one pickle stream:
// nothing in it says it is complete, so it relies on the settle window alone.
//
// Hostile input is bounded before libzip sees it (research F2): the declared entry count and
// central directory size are read from the end records and refused above kMaxZipEntries /
// kMaxCentralDirectoryBytes, so memory is bounded whatever a file claims; a tail holding more
// than kMaxEndRecordCandidates end-record signatures (a garbage comment) is refused too.
//
// Thread safety: the functions are thread-safe.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

#include "common/status.h"

namespace tw::watch {

enum class TorchFileKind {
  kEmpty,          // 0 bytes.
  kIncompleteZip,  // Starts like a zip, but the end records are missing or inconsistent.
  kTorchScript,    // torch.jit.save: <prefix>/code/... and <prefix>/constants.pkl.
  kStateDictZip,   // torch.save (zip format): <prefix>/data.pkl and no code/.
  kLegacyPickle,   // torch.save with _use_new_zipfile_serialization=False: a pickle stream.
  kNotTorch,       // Anything else, including zips refused by the limits below.
};

// "empty", "incomplete_zip", "torchscript", "state_dict_zip", "legacy_pickle", "not_torch".
std::string_view TorchFileKindName(TorchFileKind kind);

// How the store names a checkpoint's format: "torchscript", "state_dict" (a zip state dict) or
// "legacy" (a pre-zip pickle); nullopt for kinds that are not checkpoints.
std::optional<std::string> CheckpointFormatName(TorchFileKind kind);

struct TorchFileCheck {
  TorchFileKind kind = TorchFileKind::kNotTorch;
  // Why, for a person: "no end-of-central-directory record (still being written, or truncated)",
  // "TorchScript archive 'model': 14 entries".
  std::string reason;
  // Size and mtime of the file that was read (fstat of the open descriptor), so a caller can
  // check that the verdict belongs to the stat it settled on.
  uint64_t size = 0;
  int64_t mtime_ns = 0;
  uint64_t zip_entries = 0;    // Entries in a complete zip; 0 otherwise.
  std::string archive_prefix;  // The folder every entry of a torch zip sits in ("archive").
};

// Limits on what a checkpoint's zip may declare. A real one has one entry per tensor storage
// plus a handful of records: ResNet-50 ~330, a 70B LLaMA state dict ~730, with optimizer state a
// few thousand. The central directory of 100,000 entries is ~10 MiB.
inline constexpr uint64_t kMaxZipEntries = 100'000;
inline constexpr uint64_t kMaxCentralDirectoryBytes = 16ull << 20;
// What a checkpoint's compressed entries may inflate to, together. torch.jit.save deflates its
// code/ and debug records (kilobytes to a few MiB even for large models) but stores tensor data
// uncompressed; LibTorch allocates what an entry declares before inflating it, so a 4 MiB file
// declaring 4 GiB (a zip bomb) is refused here, before the evaluator sees it. A stored entry
// may not declare more bytes than the file holds.
inline constexpr uint64_t kMaxInflatedBytes = 64ull << 20;
// End-record signatures ("PK\5\6") in the last 64 KiB that are tried at all. torch writes one.
inline constexpr int kMaxEndRecordCandidates = 16;

// Opens `path` (following symlinks: callers that must not follow them open the file themselves
// and use InspectTorchFd) and classifies it. The verdict is the value; a Status error means the
// file could not be read at all: NotFound, PermissionDenied, InvalidArgument (not a regular
// file), Unknown (an I/O error, or libzip failing for a reason that is not the file's content).
StatusOr<TorchFileCheck> InspectTorchFile(const std::string& path);

// The same on an open descriptor, which stays owned by the caller and is only read with pread
// (its offset is unchanged). `display_name` is used in messages.
StatusOr<TorchFileCheck> InspectTorchFd(int fd, std::string_view display_name);

}  // namespace tw::watch
