// Parity of tw::imaging with the Python reference (Pillow 9.4 + torchvision 0.14, the stack
// timm's validate.py runs on): tests/testing/pil_reference.py writes images and the reference
// outputs into a temporary directory, and this test compares ours with them. The measured
// differences are printed so they can be quoted.
//
// Needs /usr/bin/python3 with numpy, PIL, torch and torchvision (scripts/setup installs them);
// without them the test fails rather than skips, because parity is the point of the library.
#include <gtest/gtest.h>
#include <sys/wait.h>

#include <cmath>
#include <cstdio>
#include <cstring>
#include <iomanip>
#include <iostream>
#include <map>
#include <sstream>
#include <string>
#include <vector>

#include "imaging/image.h"
#include "imaging/preprocess.h"
#include "tests/testing/status_matchers.h"
#include "tests/testing/temp_dir.h"

namespace tw {
namespace {

using imaging::DecodeImageFile;
using imaging::DecodeOptions;
using imaging::Image;
using imaging::Interpolation;
using imaging::PreprocessConfig;

constexpr char kPython[] = "/usr/bin/python3";

// This file is tests/integration/imaging_parity_test.cc; the script sits in tests/testing.
std::string ScriptPath() {
  const std::string file = __FILE__;
  const size_t slash = file.rfind('/');
  const std::string dir = slash == std::string::npos ? "." : file.substr(0, slash);
  return dir + "/../testing/pil_reference.py";
}

// Runs a shell command; returns its exit status and combined output.
int RunCommand(const std::string& command, std::string* output) {
  FILE* pipe = popen((command + " 2>&1").c_str(), "r");
  if (pipe == nullptr) return -1;
  char buffer[4096];
  size_t n;
  while ((n = fread(buffer, 1, sizeof(buffer), pipe)) > 0) output->append(buffer, n);
  const int status = pclose(pipe);
  return WIFEXITED(status) ? WEXITSTATUS(status) : -1;
}

// Absolute differences between two arrays, accumulated over several comparisons.
struct DiffStats {
  uint64_t values = 0;
  uint64_t differing = 0;
  double max = 0;
  double sum = 0;
  std::string worst;  // where max was seen

  void Add(double diff, const std::string& where) {
    ++values;
    if (diff > 0) ++differing;
    sum += diff;
    if (diff > max) {
      max = diff;
      worst = where;
    }
  }
  double mean() const { return values == 0 ? 0 : sum / values; }
};

void Print(const std::string& what, const DiffStats& stats) {
  std::cout << "[parity] " << std::left << std::setw(44) << what << " max " << std::setprecision(4)
            << stats.max << ", mean " << stats.mean() << ", " << stats.differing << " of "
            << stats.values << " values differ"
            << (stats.worst.empty() ? "" : " (max at " + stats.worst + ")") << "\n";
}

struct Record {
  std::vector<std::string> fields;
  const std::string& operator[](size_t i) const { return fields.at(i); }
};

std::vector<uint8_t> ReadBytes(const std::string& path) {
  const std::string data = testing::ReadTestFile(path);
  return std::vector<uint8_t>(data.begin(), data.end());
}

std::vector<float> ReadFloats(const std::string& path) {
  const std::string data = testing::ReadTestFile(path);
  std::vector<float> values(data.size() / sizeof(float));
  std::memcpy(values.data(), data.data(), values.size() * sizeof(float));  // little-endian host
  return values;
}

bool IsJpeg(const std::string& file) {
  return file.size() > 4 && file.compare(file.size() - 4, 4, ".jpg") == 0;
}

class ImagingParityTest : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    dir_ = new testing::TempDir();
    std::string output;
    if (RunCommand(std::string(kPython) + " -c 'import numpy, PIL, torch, torchvision'", &output) !=
        0) {
      *setup_error_ = std::string(kPython) +
                      " cannot import numpy, PIL, torch and torchvision, which the parity "
                      "reference needs: run scripts/setup (it installs python3-numpy "
                      "python3-pil python3-torch python3-torchvision). Python said:\n" +
                      output;
      return;
    }
    output.clear();
    const std::string command =
        std::string(kPython) + " '" + ScriptPath() + "' '" + dir_->path() + "'";
    if (RunCommand(command, &output) != 0) {
      *setup_error_ = command + " failed:\n" + output;
      return;
    }
    std::istringstream manifest(testing::ReadTestFile(dir_->Sub("manifest.txt")));
    std::string line;
    while (std::getline(manifest, line)) {
      std::istringstream words(line);
      Record record;
      for (std::string word; words >> word;) record.fields.push_back(word);
      if (!record.fields.empty()) records_->push_back(record);
    }
    for (const Record& record : *records_) {
      if (record[0] == "image") (*files_)[record[1]] = record[2];
    }
  }
  static void TearDownTestSuite() {
    delete dir_;
    dir_ = nullptr;
  }
  void SetUp() override { ASSERT_TRUE(setup_error_->empty()) << *setup_error_; }

  static std::vector<Record> Select(const std::string& kind) {
    std::vector<Record> selected;
    for (const Record& record : *records_) {
      if (record[0] == kind) selected.push_back(record);
    }
    return selected;
  }
  static std::string Path(const std::string& file) { return dir_->Sub(file); }
  // The reference's decoded RGB pixels of image `name`.
  static Image ReferenceRgb(const std::string& name) {
    for (const Record& record : *records_) {
      if (record[0] == "decoded" && record[1] == name && record[2] == "RGB") {
        Image image;
        image.width = std::stoi(record[4]);
        image.height = std::stoi(record[5]);
        image.channels = 3;
        image.pixels = ReadBytes(Path(record[3]));
        return image;
      }
    }
    ADD_FAILURE() << "no decoded RGB record for " << name;
    return Image();
  }

  static testing::TempDir* dir_;
  static std::string* const setup_error_;
  static std::vector<Record>* const records_;
  static std::map<std::string, std::string>* const files_;  // image name -> file
};

testing::TempDir* ImagingParityTest::dir_ = nullptr;
std::string* const ImagingParityTest::setup_error_ = new std::string;
std::vector<Record>* const ImagingParityTest::records_ = new std::vector<Record>;
std::map<std::string, std::string>* const ImagingParityTest::files_ =
    new std::map<std::string, std::string>;

TEST_F(ImagingParityTest, DecodeMatchesPillowConvert) {
  DiffStats png, jpeg, png_grey, jpeg_grey;
  int images = 0;
  for (const Record& record : Select("decoded")) {
    const std::string& name = record[1];
    const std::string& file = files_->at(name);
    DecodeOptions options;
    options.channels = std::stoi(record[6]);
    TW_ASSERT_OK_AND_ASSIGN(Image image, DecodeImageFile(Path(file), options));
    ASSERT_EQ(image.width, std::stoi(record[4])) << file;
    ASSERT_EQ(image.height, std::stoi(record[5])) << file;
    ASSERT_EQ(image.channels, options.channels) << file;
    const std::vector<uint8_t> expected = ReadBytes(Path(record[3]));
    ASSERT_EQ(image.pixels.size(), expected.size()) << file;
    const bool jpg = IsJpeg(file);
    DiffStats& stats = options.channels == 3 ? (jpg ? jpeg : png) : (jpg ? jpeg_grey : png_grey);
    DiffStats mine;
    for (size_t i = 0; i < expected.size(); ++i) {
      const double diff = std::abs(int{image.pixels[i]} - int{expected[i]});
      stats.Add(diff, file);
      mine.Add(diff, file);
    }
    // PNG decoding is lossless and Pillow's conversions are integer: exact. JPEG: same
    // libjpeg-turbo and IDCT as Pillow, so exact is expected too; 1 grey level is the contract.
    EXPECT_LE(mine.max, jpg ? 1 : 0) << file << " (" << record[2] << ")";
    ++images;
  }
  std::cout << "[parity] decoded " << images << " image/mode pairs\n";
  Print("decode PNG -> RGB (grey levels)", png);
  Print("decode PNG -> L", png_grey);
  Print("decode JPEG -> RGB", jpeg);
  Print("decode JPEG -> L", jpeg_grey);
  EXPECT_GT(images, 60);
}

TEST_F(ImagingParityTest, RefusesWhatPillowRefuses) {
  const std::vector<Record> errors = Select("error");
  EXPECT_GE(errors.size(), 3u);
  for (const Record& record : errors) {
    EXPECT_THAT(
        DecodeImageFile(Path(record[2]), DecodeOptions()),
        testing::StatusIs(StatusCode::kInvalidArgument, ::testing::HasSubstr(Path(record[2]))));
  }
}

TEST_F(ImagingParityTest, ResizeMatchesPillow) {
  std::map<std::string, DiffStats> by_interpolation;
  int resizes = 0;
  std::string current;
  Image source;
  for (const Record& record : Select("resize")) {
    // Resize the reference's own decoded pixels, so that only resizing is compared.
    if (record[1] != current) {
      current = record[1];
      source = ReferenceRgb(current);
    }
    TW_ASSERT_OK_AND_ASSIGN(Interpolation interpolation, imaging::ParseInterpolation(record[2]));
    const int width = std::stoi(record[3]);
    const int height = std::stoi(record[4]);
    const Image resized = imaging::Resize(source, width, height, interpolation);
    const std::vector<uint8_t> expected = ReadBytes(Path(record[5]));
    ASSERT_EQ(resized.pixels.size(), expected.size()) << record[5];
    DiffStats& stats = by_interpolation[record[2]];
    DiffStats mine;
    for (size_t i = 0; i < expected.size(); ++i) {
      const double diff = std::abs(int{resized.pixels[i]} - int{expected[i]});
      stats.Add(diff, record[5]);
      mine.Add(diff, record[5]);
    }
    EXPECT_LE(mine.max, 1) << record[5];
    ++resizes;
  }
  std::cout << "[parity] " << resizes << " resizes\n";
  for (const auto& [name, stats] : by_interpolation) Print("resize " + name, stats);
  EXPECT_GT(resizes, 100);
}

// The whole eval transform, once from the reference's decoded pixels (isolates resize, crop
// and normalisation) and once from our own decoding of the file (what evaluations run).
TEST_F(ImagingParityTest, EvalTransformMatchesTorchvision) {
  DiffStats from_reference, from_ours;
  int evals = 0;
  for (const Record& record : Select("eval")) {
    const std::string& name = record[1];
    PreprocessConfig config;
    TW_ASSERT_OK_AND_ASSIGN(config.interpolation, imaging::ParseInterpolation(record[2]));
    config.img_size = std::stoi(record[3]);
    config.crop_pct = std::stod(record[4]);
    const std::vector<float> expected = ReadFloats(Path(record[5]));
    const size_t plane = static_cast<size_t>(config.img_size) * config.img_size;
    ASSERT_EQ(expected.size(), 3 * plane) << record[5];

    TW_ASSERT_OK_AND_ASSIGN(const Image ours,
                            DecodeImageFile(Path(files_->at(name)), DecodeOptions()));
    const Image reference = ReferenceRgb(name);
    for (const Image* input : {&reference, &ours}) {
      std::vector<float> actual(3 * plane);
      TW_ASSERT_OK(imaging::Preprocess(*input, config, actual.data()));
      DiffStats& stats = input == &reference ? from_reference : from_ours;
      DiffStats mine;
      for (size_t i = 0; i < actual.size(); ++i) {
        // In grey levels: undo Normalize's division by std and ToTensor's by 255.
        const double diff = std::abs(actual[i] - expected[i]) * config.std[i / plane] * 255.0;
        stats.Add(diff, record[5]);
        mine.Add(diff, record[5]);
      }
      EXPECT_LE(mine.max, 1.0 + 1e-3) << record[5];
    }
    ++evals;
  }
  std::cout << "[parity] " << evals << " eval transforms\n";
  Print("eval transform from Pillow's pixels (grey levels)", from_reference);
  Print("eval transform from our decode (grey levels)", from_ours);
  EXPECT_GT(evals, 40);
}

}  // namespace
}  // namespace tw
