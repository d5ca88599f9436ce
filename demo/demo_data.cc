#include "demo/demo_data.h"

#include <cerrno>
#include <cstdio>
#include <filesystem>
#include <system_error>

#include "common/file_util.h"
#include "demo/corruptions.h"
#include "demo/mnist_package.h"
#include "demo/png_writer.h"
#include "demo/split.h"

namespace tw::demo {

namespace {

namespace fs = std::filesystem;

// Bump when anything that changes the written bytes changes (a corruption's parameters, the
// split, the naming): a stamp of another format never matches, so old outputs are rebuilt.
constexpr int kFormatVersion = 1;
constexpr uint32_t kSplitSeed = 20240601;

// The single-shift variants of the held-out split.
constexpr double kNoiseSigma = 100;                 // pixel units (0..255)
constexpr double kBlurSigma = 1.5;                  // pixels
constexpr double kRotateMin = 25, kRotateMax = 45;  // degrees, either direction

const char* const kStampName = ".tw-demo-data";

// A seed per (stream, digit): an image's randomness does not depend on which other digits are
// written, so a digit looks the same whatever --test is. splitmix64's finaliser mixes the bits.
uint32_t SeedFor(uint64_t stream, int index) {
  uint64_t z = (stream << 32) ^ static_cast<uint64_t>(index) ^ 0x9e3779b97f4a7c15ull;
  z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
  z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
  return static_cast<uint32_t>((z ^ (z >> 31)) >> 16);
}

Status FsError(const std::error_code& ec, const std::string& what) {
  return ErrnoToStatus(ec.value(), what);
}

// Per-file writes are plain (no fsync): the datasets are derived data, rebuilt when the stamp
// is missing, and 30,000 fsyncs would make the demo slow.
Status WriteBytes(const std::string& path, const std::string& bytes) {
  FILE* file = std::fopen(path.c_str(), "wb");
  if (file == nullptr) return ErrnoToStatus(errno, path);
  const size_t written = std::fwrite(bytes.data(), 1, bytes.size(), file);
  const int write_errno = errno;
  if (std::fclose(file) != 0 || written != bytes.size()) {
    return ErrnoToStatus(written != bytes.size() ? write_errno : errno, path);
  }
  return OkStatus();
}

std::string DigitFileName(int index) {
  char name[32];
  std::snprintf(name, sizeof(name), "%05d.png", index);
  return name;
}

// A folder of class folders 0..9 (all of them, so every dataset has the same classes even when
// a small split leaves one empty).
Status MakeClassFolders(const std::string& dir) {
  for (int c = 0; c < kDigitClasses; ++c)
    TW_RETURN_IF_ERROR(MakeDirs(dir + "/" + std::to_string(c)));
  return OkStatus();
}

Status WriteDigit(const std::string& dir, int label, int index, const imaging::Image& image) {
  TW_ASSIGN_OR_RETURN(std::string png, EncodePng(image));
  return WriteBytes(dir + "/" + std::to_string(label) + "/" + DigitFileName(index), png);
}

// Writes one dataset into OUT/.<name>.tmp with `fill`, then replaces OUT/<name> with it.
Status WriteDataset(const std::string& out_dir, const std::string& name,
                    const std::function<Status(const std::string& dir)>& fill) {
  const std::string final_dir = out_dir + "/" + name;
  const std::string temp_dir = out_dir + "/." + name + ".tmp";
  std::error_code ec;
  fs::remove_all(temp_dir, ec);
  if (ec) return FsError(ec, "removing " + temp_dir);
  TW_RETURN_IF_ERROR(MakeDirs(temp_dir));
  TW_RETURN_IF_ERROR(fill(temp_dir));
  fs::remove_all(final_dir, ec);
  if (ec) return FsError(ec, "removing " + final_dir);
  fs::rename(temp_dir, final_dir, ec);
  if (ec) return FsError(ec, "renaming " + temp_dir + " to " + final_dir);
  return OkStatus();
}

std::string StampText(const DemoDataOptions& options, const std::string& input_sha256) {
  std::string text = "tw-demo-data format " + std::to_string(kFormatVersion) + "\n";
  text += "input-sha256 " + input_sha256 + "\n";
  text += "train " + std::to_string(options.train) + "\n";
  text += "test " + std::to_string(options.test) + "\n";
  text += "c-per-class " + std::to_string(options.c_per_class) + "\n";
  return text;
}

bool UpToDate(const std::string& out_dir, const std::string& stamp) {
  auto existing = ReadFileToString(out_dir + "/" + kStampName, 1 << 16);
  if (!existing.ok() || *existing != stamp) return false;
  if (!PathExists(out_dir + "/classes.txt")) return false;
  for (const std::string& name : DemoDatasetNames()) {
    if (!PathExists(out_dir + "/" + name)) return false;
  }
  return true;
}

Status ValidateOptions(const DemoDataOptions& options) {
  if (options.mnist_dir.empty()) return InvalidArgumentError("--mnist is required");
  if (options.out_dir.empty()) return InvalidArgumentError("--out is required");
  if (options.train < 1) return InvalidArgumentError("--train must be at least 1");
  if (options.test < 1) return InvalidArgumentError("--test must be at least 1");
  if (options.c_per_class < 1) return InvalidArgumentError("--c-per-class must be at least 1");
  return OkStatus();
}

}  // namespace

const std::vector<std::string>& DemoDatasetNames() {
  static const std::vector<std::string> names = {
      "train", "mnist", "mnist-noise", "mnist-blur", "mnist-rotate", "mnist-invert", "mnist-c"};
  return names;
}

StatusOr<DemoDataReport> BuildDemoData(const DemoDataOptions& options,
                                       const std::function<void(const std::string&)>& log) {
  TW_RETURN_IF_ERROR(ValidateOptions(options));
  TW_ASSIGN_OR_RETURN(MnistPackageFiles files, ReadMnistPackage(options.mnist_dir));
  const std::string stamp = StampText(options, files.sha256);
  DemoDataReport report;
  if (UpToDate(options.out_dir, stamp)) {
    report.up_to_date = true;
    return report;
  }

  TW_ASSIGN_OR_RETURN(Digits digits, ParseMnistPackage(files));
  const int count = static_cast<int>(digits.images.size());
  auto split = SplitIndices(count, options.train, options.test, kSplitSeed);
  if (!split.ok()) {
    return InvalidArgumentError("--train " + std::to_string(options.train) + " --test " +
                                std::to_string(options.test) + ": " + split.status().message());
  }
  auto suite = TakePerClass(split->test, digits.labels, kDigitClasses, options.c_per_class);
  if (!suite.ok()) {
    return InvalidArgumentError("--c-per-class " + std::to_string(options.c_per_class) + ": " +
                                suite.status().message() +
                                " (raise --test or lower --c-per-class)");
  }

  TW_RETURN_IF_ERROR(MakeDirs(options.out_dir));
  // From here on the folder is not up to date until the new stamp is written.
  std::error_code ec;
  fs::remove(options.out_dir + "/" + kStampName, ec);
  if (ec) return FsError(ec, "removing " + options.out_dir + "/" + kStampName);

  auto image = [&](int index) -> const imaging::Image& { return digits.images[index]; };

  struct Dataset {
    std::string name;
    const std::vector<int>* indices;
    std::function<imaging::Image(int)> transform;
  };
  const std::vector<Dataset> single = {
      {"train", &split->train, [&](int i) { return image(i); }},
      {"mnist", &split->test, [&](int i) { return image(i); }},
      {"mnist-noise", &split->test,
       [&](int i) {
         Rng rng(SeedFor(1, i));
         return AddGaussianNoise(image(i), kNoiseSigma, rng);
       }},
      {"mnist-blur", &split->test, [&](int i) { return GaussianBlur(image(i), kBlurSigma); }},
      {"mnist-rotate", &split->test,
       [&](int i) {
         Rng rng(SeedFor(2, i));
         const double sign = rng.Below(2) == 0 ? -1.0 : 1.0;
         return Rotate(image(i), sign * rng.Uniform(kRotateMin, kRotateMax));
       }},
      {"mnist-invert", &split->test, [&](int i) { return Invert(image(i)); }},
  };
  for (const Dataset& dataset : single) {
    auto fill = [&](const std::string& dir) -> Status {
      TW_RETURN_IF_ERROR(MakeClassFolders(dir));
      for (int index : *dataset.indices) {
        TW_RETURN_IF_ERROR(WriteDigit(dir, digits.labels[index], index, dataset.transform(index)));
      }
      return OkStatus();
    };
    TW_RETURN_IF_ERROR(WriteDataset(options.out_dir, dataset.name, fill));
    report.datasets.emplace_back(dataset.name, static_cast<int>(dataset.indices->size()));
    if (log) log(dataset.name + ": " + std::to_string(dataset.indices->size()) + " images");
  }

  const std::vector<std::string>& corruptions = CorruptionNames();
  auto fill_suite = [&](const std::string& dir) -> Status {
    for (size_t c = 0; c < corruptions.size(); ++c) {
      for (int severity = 1; severity <= kSeverities; ++severity) {
        const std::string sub = dir + "/" + corruptions[c] + "/" + std::to_string(severity);
        TW_RETURN_IF_ERROR(MakeClassFolders(sub));
        const uint64_t stream = 100 + c * 10 + severity;
        for (int index : *suite) {
          Rng rng(SeedFor(stream, index));
          TW_RETURN_IF_ERROR(
              WriteDigit(sub, digits.labels[index], index,
                         ApplyCorruption(image(index), corruptions[c], severity, rng)));
        }
      }
    }
    return OkStatus();
  };
  TW_RETURN_IF_ERROR(WriteDataset(options.out_dir, "mnist-c", fill_suite));
  const int suite_images = static_cast<int>(suite->size() * corruptions.size() * kSeverities);
  report.datasets.emplace_back("mnist-c", suite_images);
  if (log) {
    log("mnist-c: " + std::to_string(suite_images) + " images (" +
        std::to_string(corruptions.size()) + " corruptions x " + std::to_string(kSeverities) +
        " severities x " + std::to_string(suite->size()) + " digits)");
  }

  std::string classes;
  for (int c = 0; c < kDigitClasses; ++c) classes += std::to_string(c) + "\n";
  TW_RETURN_IF_ERROR(WriteFileAtomic(options.out_dir + "/classes.txt", classes));
  TW_RETURN_IF_ERROR(WriteFileAtomic(options.out_dir + "/" + kStampName, stamp));
  return report;
}

}  // namespace tw::demo
