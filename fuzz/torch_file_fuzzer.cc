// The zip completeness check (watch/torch_file): what a file in a watched folder is, judged from
// its first bytes and its zip end records and central directory (libzip), never loaded. The
// file is anyone's who can write into a watched folder.
//
// Invariants: a readable file always gets a verdict (never an error); the verdict is consistent
// (a torch zip names its one top-level folder and has entries; only torch kinds are
// checkpoints; entries stay within kMaxZipEntries); an empty file is kEmpty.
#include <sys/mman.h>
#include <unistd.h>

#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <cstdlib>

#include "fuzz/fuzz_check.h"
#include "watch/torch_file.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  using tw::watch::TorchFileKind;
  // One in-memory file, rewritten for each input: InspectTorchFd reads with pread and fstat.
  static const int fd = [] {
    int created = memfd_create("checkpoint.pt", MFD_CLOEXEC);
    if (created < 0) std::abort();
    return created;
  }();
  if (ftruncate(fd, 0) != 0) std::abort();
  size_t written = 0;
  while (written < size) {
    ssize_t n = pwrite(fd, data + written, size - written, static_cast<off_t>(written));
    if (n <= 0) std::abort();
    written += static_cast<size_t>(n);
  }

  auto check = tw::watch::InspectTorchFd(fd, "run1/epoch_012.pt");
  if (!check.ok()) std::fprintf(stderr, "InspectTorchFd: %s\n", check.status().ToString().c_str());
  TW_FUZZ_CHECK(check.ok(), "a readable regular file always gets a verdict");
  TW_FUZZ_CHECK(check->size == size, "the size read is the file's");
  TW_FUZZ_CHECK((size == 0) == (check->kind == TorchFileKind::kEmpty), "empty iff 0 bytes");
  TW_FUZZ_CHECK(!check->reason.empty(), "every verdict says why");
  TW_FUZZ_CHECK(check->zip_entries <= tw::watch::kMaxZipEntries, "entries within the limit");
  const bool torch_zip =
      check->kind == TorchFileKind::kTorchScript || check->kind == TorchFileKind::kStateDictZip;
  TW_FUZZ_CHECK(torch_zip == !check->archive_prefix.empty(), "a torch zip names its folder");
  if (torch_zip) TW_FUZZ_CHECK(check->zip_entries > 0, "a torch zip has entries");
  const bool checkpoint = torch_zip || check->kind == TorchFileKind::kLegacyPickle;
  TW_FUZZ_CHECK(tw::watch::CheckpointFormatName(check->kind).has_value() == checkpoint,
                "only torch kinds are checkpoints");
  (void)tw::watch::TorchFileKindName(check->kind);
  return 0;
}
