// Building a manifest from a dataset folder, and checking a folder against one.
#pragma once

#include <functional>
#include <optional>
#include <string>
#include <vector>

#include "common/status.h"
#include "datasets/manifest.h"

namespace tw::datasets {

struct DatasetSource {
  std::string root;  // absolute directory
  Layout layout = Layout::kWnidFolders;
  // One class name per line; class index = line number (0-based). Default: the sorted folder
  // names (wnid-folders, corruption-suite) or the folders' integers (index-folders).
  std::optional<std::string> classes_file;
  // Classes that compete (ImageNet-A/R): one class name or 0-based index per line.
  std::optional<std::string> subset_file;
  // labels-file layout: a JSON list of label lists in the order of the files' base names
  // (ImageNet-ReaL), or CSV lines "path,label[;label...]" with 0-based indices.
  std::optional<std::string> labels_file;
  int threads = 0;  // hashing threads; 0 = one per core
  // Called as files are hashed (from worker threads, serialised); may be empty.
  std::function<void(size_t done, size_t total)> progress;
};

// Walks the folder, assigns labels by the layout and hashes every image (.jpg, .jpeg, .png, in
// any case) in parallel. Dot-files are ignored; a symlink is followed only when it stays inside
// the root. Errors name the file or folder: a class folder missing from the class list, an
// image outside any class folder, a label out of range, a labels file that does not match the
// files, an empty dataset.
StatusOr<Manifest> ScanDataset(const DatasetSource& source);

struct VerifyReport {
  std::vector<std::string> added;    // images in the folder but not in the manifest
  std::vector<std::string> missing;  // in the manifest but not in the folder
  std::vector<std::string> changed;  // in both, with other bytes
  size_t checked = 0;                // files re-hashed
  bool ok() const { return added.empty() && missing.empty() && changed.empty(); }
};

// Re-hashes the folder's images and compares them with the manifest.
StatusOr<VerifyReport> VerifyDataset(const Manifest& manifest, const std::string& root, int threads,
                                     const std::function<void(size_t, size_t)>& progress = {});

// Reads a class list: one non-empty, unique name per line ('#' comments and blank lines are not
// allowed: the line number is the class index).
StatusOr<std::vector<std::string>> ReadClassList(const std::string& path);

}  // namespace tw::datasets
