// Dataset label files and class lists (datasets/scan): what `dataset add --layout labels-file
// --labels FILE` reads (a JSON list of label lists, ImageNet-ReaL style, or CSV lines
// "path,label[;label...]"), and the class and subset lists (one name per line). The input is
// used as both: as the labels file of a fixed folder of six images, scanned by ScanDataset, and
// as a class list read by ReadClassList.
//
// Invariants: errors are InvalidArgument; a scanned manifest has labels within model_classes,
// one label per file unless multi_label, and is accepted by ManifestFromJson when written as
// canonical JSON (what `dataset add` stores, the evaluator must be able to read); a class list
// holds unique, non-empty names without line breaks or tabs.
#include <sys/stat.h>

#include <cstddef>
#include <cstdint>
#include <set>
#include <string>
#include <string_view>

#include "datasets/manifest.h"
#include "datasets/scan.h"
#include "fuzz/fuzz_check.h"
#include "fuzz/fuzz_temp_dir.h"

namespace {

// <tmp>/images/val/ILSVRC2012_val_0000000{1..4}.JPEG and two PNGs in a second folder: a
// labels-file dataset in miniature.
const std::string& ImagesRoot() {
  static const std::string root = [] {
    const std::string dir = tw_fuzz::TempDir() + "/images";
    ::mkdir(dir.c_str(), 0700);
    ::mkdir((dir + "/val").c_str(), 0700);
    ::mkdir((dir + "/extra").c_str(), 0700);
    for (int i = 1; i <= 4; ++i) {
      tw_fuzz::WriteFile(dir + "/val/ILSVRC2012_val_0000000" + std::to_string(i) + ".JPEG",
                         "jpeg " + std::to_string(i));
    }
    tw_fuzz::WriteFile(dir + "/extra/a.png", "png a");
    tw_fuzz::WriteFile(dir + "/extra/b.png", "png b");
    return dir;
  }();
  return root;
}

void CheckLabels(std::string_view text) {
  const std::string labels_path = tw_fuzz::TempDir() + "/labels";
  tw_fuzz::WriteFile(labels_path, text);
  tw::datasets::DatasetSource source;
  source.root = ImagesRoot();
  source.layout = tw::datasets::Layout::kLabelsFile;
  source.labels_file = labels_path;
  source.threads = 1;
  auto manifest = tw::datasets::ScanDataset(source);
  if (!manifest.ok()) {
    TW_FUZZ_CHECK(manifest.status().code() == tw::StatusCode::kInvalidArgument,
                  "a bad labels file is InvalidArgument");
    return;
  }
  TW_FUZZ_CHECK(manifest->files.size() == 6, "every image is in the manifest");
  const auto& protocol = manifest->protocol;
  TW_FUZZ_CHECK(protocol.model_classes >= 1, "model_classes >= 1");
  for (const auto& file : manifest->files) {
    TW_FUZZ_CHECK(protocol.multi_label || file.labels.size() == 1, "one label unless multi");
    for (int l : file.labels) TW_FUZZ_CHECK(l >= 0 && l < protocol.model_classes, "label range");
  }
  auto canonical = tw::datasets::ManifestToCanonicalJson(*manifest);
  TW_FUZZ_CHECK(canonical.ok(), "a scanned manifest canonicalizes");
  auto stored = tw::datasets::ManifestFromJson(*canonical, "stored manifest");
  if (!stored.ok()) std::fprintf(stderr, "%s\n", stored.status().message().c_str());
  TW_FUZZ_CHECK(stored.ok(), "a scanned manifest is a valid manifest");
}

void CheckClassList(std::string_view text) {
  const std::string path = tw_fuzz::TempDir() + "/classes.txt";
  tw_fuzz::WriteFile(path, text);
  auto classes = tw::datasets::ReadClassList(path);
  if (!classes.ok()) {
    TW_FUZZ_CHECK(classes.status().code() == tw::StatusCode::kInvalidArgument,
                  "a bad class list is InvalidArgument");
    return;
  }
  std::set<std::string> seen;
  for (const auto& name : *classes) {
    TW_FUZZ_CHECK(!name.empty(), "class names are not empty");
    TW_FUZZ_CHECK(name.find_first_of("\n\t") == std::string::npos, "one name per line");
    TW_FUZZ_CHECK(seen.insert(name).second, "class names are unique");
  }
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const std::string_view text(reinterpret_cast<const char*>(data), size);
  CheckLabels(text);
  CheckClassList(text);
  return 0;
}
