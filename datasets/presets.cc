#include "datasets/presets.h"

#include <algorithm>
#include <cstdlib>
#include <set>

#include "common/file_util.h"

namespace tw::datasets {

StatusOr<Preset> FindPreset(const std::string& name) {
  static const std::vector<Preset> kPresets = {
      {"imagenet", Layout::kWnidFolders, "imagenet_synsets.txt", {}, {}, {}, {}},
      {"imagenet-real",
       Layout::kLabelsFile,
       "imagenet_synsets.txt",
       {},
       "imagenet_real_labels.json",
       "imagenet",
       {}},
      {"imagenetv2-matched-frequency",
       Layout::kIndexFolders,
       "imagenet_synsets.txt",
       {},
       {},
       "imagenet",
       {}},
      {"sketch", Layout::kWnidFolders, "imagenet_synsets.txt", {}, {}, "imagenet", {}},
      {"imagenet-a",
       Layout::kWnidFolders,
       "imagenet_synsets.txt",
       "imagenet_a_synsets.txt",
       {},
       "imagenet-a-clean",
       "imagenet-a-clean"},
      {"imagenet-r",
       Layout::kWnidFolders,
       "imagenet_synsets.txt",
       "imagenet_r_synsets.txt",
       {},
       "imagenet-r-clean",
       "imagenet-r-clean"},
      {"imagenet-c", Layout::kCorruptionSuite, "imagenet_synsets.txt", {}, {}, "imagenet", {}},
  };
  std::string names;
  for (const auto& preset : kPresets) {
    if (preset.name == name) return preset;
    names += (names.empty() ? "" : ", ") + preset.name;
  }
  return InvalidArgumentError("unknown preset \"" + name + "\": expected one of " + names);
}

std::string DataDir() {
  if (const char* env = std::getenv("TRANSFERWATCH_DATA_DIR"); env != nullptr && *env != '\0') {
    return env;
  }
  if (PathExists(TW_INSTALLED_DATA_DIR "/imagenet/imagenet_synsets.txt")) {
    return TW_INSTALLED_DATA_DIR;
  }
  return TW_SOURCE_DATA_DIR;
}

Manifest DeriveSubsetManifest(const Manifest& base, const std::vector<int>& subset) {
  std::set<int> keep(subset.begin(), subset.end());
  Manifest derived = base;
  derived.files.clear();
  for (const auto& file : base.files) {
    bool inside = std::any_of(file.labels.begin(), file.labels.end(),
                              [&](int label) { return keep.count(label) > 0; });
    if (inside) derived.files.push_back(file);
  }
  derived.protocol.subset.assign(keep.begin(), keep.end());
  return derived;
}

}  // namespace tw::datasets
