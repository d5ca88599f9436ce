// Dataset manifests (datasets/manifest): the JSON `dataset add` stores and the evaluator reads.
//
// Invariants: errors are InvalidArgument naming the source; every accepted manifest has safe
// relative paths, labels within model_classes and sorted unique paths; its canonical JSON is
// accepted again and describes the same manifest (the same canonical text, hash and files digest),
// so the manifest hash in an evaluation key is stable.
#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>

#include "datasets/manifest.h"
#include "fuzz/fuzz_check.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  using namespace tw::datasets;
  const std::string_view text(reinterpret_cast<const char*>(data), size);
  auto manifest = ManifestFromJson(text, "manifest.json");
  if (!manifest.ok()) {
    TW_FUZZ_CHECK(manifest.status().code() == tw::StatusCode::kInvalidArgument,
                  "ManifestFromJson fails only with InvalidArgument");
    TW_FUZZ_CHECK(manifest.status().message().rfind("manifest.json", 0) == 0,
                  "a manifest error names the source");
    return 0;
  }
  const Protocol& protocol = manifest->protocol;
  TW_FUZZ_CHECK(protocol.model_classes >= 1, "model_classes >= 1");
  for (int s : protocol.subset) {
    TW_FUZZ_CHECK(s >= 0 && s < protocol.model_classes, "subset within model_classes");
  }
  for (size_t i = 0; i < manifest->files.size(); ++i) {
    const ManifestFile& file = manifest->files[i];
    TW_FUZZ_CHECK(IsSafeRelativePath(file.path), "safe relative paths");
    TW_FUZZ_CHECK(i == 0 || manifest->files[i - 1].path < file.path, "sorted unique paths");
    TW_FUZZ_CHECK(protocol.multi_label || file.labels.size() == 1, "one label unless multi_label");
    for (int l : file.labels) TW_FUZZ_CHECK(l >= 0 && l < protocol.model_classes, "label range");
  }
  auto canonical = ManifestToCanonicalJson(*manifest);
  if (!canonical.ok()) {
    // Only a class name or corruption that is not valid UTF-8 could be refused here, and
    // ParseJson never lets one through.
    TW_FUZZ_CHECK(false, "an accepted manifest canonicalizes");
  }
  auto again = ManifestFromJson(*canonical, "canonical.json");
  TW_FUZZ_CHECK(again.ok(), "a manifest's canonical JSON is a valid manifest");
  auto canonical_again = ManifestToCanonicalJson(*again);
  TW_FUZZ_CHECK(canonical_again.ok() && *canonical_again == *canonical,
                "the canonical JSON is idempotent");
  TW_FUZZ_CHECK(FilesDigest(*again) == FilesDigest(*manifest), "same files digest");
  TW_FUZZ_CHECK(again->layout == manifest->layout, "same layout");
  return 0;
}
