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

// Where the shipped data lives: $TRANSFERWATCH_DATA_DIR; else <prefix>/share/transferwatch
// beside the running program's <prefix>/bin (wherever a package put it); else, for a program
// in its build tree, the source tree's data/; else the configured install folder (so a missing
// installation is reported there, never silently replaced by a source tree).
std::string DataDir();
// DataDir()'s choice, without the environment, for a program in `program_dir` ("" when unknown):
// `build_dir` is the build tree's folder, `source_data` the source tree's data/, `installed` the
// configured install folder.
std::string ChooseDataDir(const std::string& program_dir, const std::string& build_dir,
                          const std::string& source_data, const std::string& installed);

// The files of `base` whose label is in `subset`, scored with `subset` competing: ImageNet val
// restricted to ImageNet-A's 200 classes is ImageNet-A's fair reference.
Manifest DeriveSubsetManifest(const Manifest& base, const std::vector<int>& subset);

}  // namespace tw::datasets
