#include "datasets/presets.h"

#include <limits.h>
#include <unistd.h>

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

namespace {

// The running program's folder, resolved ("" when /proc is not mounted).
std::string ProgramDir() {
  char self[PATH_MAX];
  ssize_t n = ::readlink("/proc/self/exe", self, sizeof(self) - 1);
  if (n <= 0) return "";
  std::string path(self, static_cast<size_t>(n));
  return path.substr(0, path.rfind('/'));
}

bool IsUnder(const std::string& path, const std::string& dir) {
  return !dir.empty() && path.compare(0, dir.size(), dir) == 0 &&
         (path.size() == dir.size() || path[dir.size()] == '/');
}

}  // namespace

std::string ChooseDataDir(const std::string& program_dir, const std::string& build_dir,
                          const std::string& source_data, const std::string& installed) {
  if (!program_dir.empty()) {
    // A package may be built from a tree configured for another prefix (/usr/local), so the
    // folder beside the program counts before the compiled-in one.
    const std::string beside =
        program_dir.substr(0, program_dir.rfind('/')) + "/share/transferwatch";
    if (PathExists(beside + "/imagenet/imagenet_synsets.txt")) return beside;
    if (IsUnder(program_dir, build_dir)) return source_data;
  }
  return installed;
}

std::string DataDir() {
  if (const char* env = std::getenv("TRANSFERWATCH_DATA_DIR"); env != nullptr && *env != '\0') {
    return env;
  }
  char build_dir[PATH_MAX];
  std::string build = ::realpath(TW_BUILD_DIR, build_dir) != nullptr ? build_dir : "";
  return ChooseDataDir(ProgramDir(), build, TW_SOURCE_DATA_DIR, TW_INSTALLED_DATA_DIR);
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
