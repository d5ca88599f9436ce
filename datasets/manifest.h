// A dataset manifest: every file's relative path, SHA-256, size and label(s), plus the protocol
// that says how predictions on it are scored. Its canonical JSON is hashed; that hash is part of
// every evaluation key, so a result always says exactly which files and rules produced it.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "common/status.h"

namespace tw::datasets {

enum class Layout { kWnidFolders, kIndexFolders, kLabelsFile, kCorruptionSuite };
StatusOr<Layout> ParseLayout(const std::string& text);  // wnid-folders | index-folders | ...
std::string LayoutName(Layout layout);

struct Protocol {
  int model_classes = 1000;     // width of the model's logits
  std::vector<int> subset;      // if non-empty: only these classes compete (ImageNet-A/R)
  bool multi_label = false;     // labels are sets; an empty set excludes the sample (ReaL)
  bool resize_and_crop = true;  // false for corruption suites: images are already cropped
};

struct ManifestFile {
  std::string path;  // relative to the dataset root, '/'-separated, no "..", no leading '/'
  std::string sha256;
  uint64_t size = 0;
  std::vector<int> labels;  // model class indices; exactly one unless multi_label
  std::string corruption;   // corruption suites only
  int severity = 0;         // corruption suites only (1..5)
};

struct Manifest {
  static constexpr int kVersion = 1;
  Layout layout = Layout::kWnidFolders;
  Protocol protocol;
  std::vector<std::string> classes;  // class names by index (may be empty for index-folders)
  std::vector<ManifestFile> files;   // sorted by path
};

// The canonical JSON document (docs/datasets.md) and its SHA-256 (the manifest hash).
StatusOr<std::string> ManifestToCanonicalJson(const Manifest& manifest);
StatusOr<std::string> ManifestSha256(const Manifest& manifest);
// Strict: every field checked (paths safe, hashes hex, labels within model_classes, the subset
// within range, severities 1..5). Errors are InvalidArgument naming the source and the field.
StatusOr<Manifest> ManifestFromJson(std::string_view text, std::string_view source_name);

// Digest of the file list alone (paths and hashes, not labels or protocol): datasets with the
// same digest (ImageNet val and ReaL) are the same images, evaluated in one forward pass.
std::string FilesDigest(const Manifest& manifest);

// Whether `path` is a safe relative path: non-empty, no leading '/', no '.' or '..' component,
// no empty component, no NUL or backslash. Manifest paths are joined to a root only if so.
bool IsSafeRelativePath(const std::string& path);

}  // namespace tw::datasets
