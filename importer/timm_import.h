// Reading timm's published results (the results-*.csv files of pytorch-image-models) into an
// ImportBatch: imported models, with one evaluation per (model, img_size, dataset).
//
// Everything is parsed and validated before the store sees anything, so a bad row fails the
// import with "file:line: reason" and nothing is half-imported.
#pragma once

#include <string>
#include <vector>

#include "common/status.h"
#include "store/model.h"

namespace tw {

// One results file timm publishes, and the dataset it becomes.
struct TimmDatasetSpec {
  const char* file;          // "results-imagenet-a.csv"
  const char* dataset;       // "imagenet-a"
  const char* reference;     // "imagenet-a-clean", or nullptr for the reference itself
  int num_classes;           // 1000, or 200 for the A/R subsets
  const char* class_subset;  // "imagenet-a", "imagenet-r" or nullptr
  bool multi_label;          // ImageNet-ReaL
};

// The eight files of the 2026-08 snapshot, in import order (references first).
const std::vector<TimmDatasetSpec>& TimmDatasets();

struct TimmFileSummary {
  std::string path;
  std::string dataset;
  std::string sha256;
  int rows = 0;
};

struct TimmImportPlan {
  ImportBatch batch;
  std::vector<TimmFileSummary> files;
  std::vector<std::string> warnings;  // skipped files and columns, for the user to read
};

// Reads the known results files in `dir`. NotFound when `dir` holds none of them.
// (model_metadata-in1k.csv is not read: its names predate timm's model.tag naming and match
// none of the results rows.)
StatusOr<TimmImportPlan> ReadTimmResults(const std::string& dir);

}  // namespace tw
