// Presets for the public ImageNet evaluation sets, named like timm's results files, and where
// the class lists they use are installed.
#pragma once

#include <optional>
#include <string>
#include <vector>

#include "common/status.h"
#include "datasets/manifest.h"

namespace tw::datasets {

struct Preset {
  std::string name;
  Layout layout = Layout::kWnidFolders;
  std::optional<std::string> classes_file;  // file names inside DataDir()
  std::optional<std::string> subset_file;
  std::optional<std::string> labels_file;
  std::optional<std::string> reference;
  // The "clean" reference this preset derives from the registered `imagenet` dataset: ImageNet
  // val restricted to the preset's class subset (imagenet-a -> imagenet-a-clean).
  std::optional<std::string> derived_reference;
};

// imagenet, imagenet-real, imagenetv2-matched-frequency, sketch, imagenet-a, imagenet-r,
// imagenet-c. InvalidArgument listing them for any other name.
StatusOr<Preset> FindPreset(const std::string& name);

// Where the shipped data lives: $TRANSFERWATCH_DATA_DIR, else the installed share folder, else
// the source tree's data/ (a build that was not installed).
std::string DataDir();

// The files of `base` whose label is in `subset`, scored with `subset` competing: ImageNet val
// restricted to ImageNet-A's 200 classes is ImageNet-A's fair reference.
Manifest DeriveSubsetManifest(const Manifest& base, const std::vector<int>& subset);

}  // namespace tw::datasets
