// The one file of the demo that calls LibTorch: every LibTorch exception is caught here.
#include "demo/trainer.h"

#include <ATen/Parallel.h>
#include <torch/script.h>
#include <torch/torch.h>

#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstdio>
#include <filesystem>
#include <nlohmann/json.hpp>
#include <system_error>

#include "common/canonical_json.h"
#include "common/file_util.h"
#include "demo/corruptions.h"
#include "demo/mnist_package.h"
#include "demo/rng.h"
#include "imaging/image.h"

namespace tw::demo {

namespace {

namespace fs = std::filesystem;

constexpr int kPixels = kDigitSide * kDigitSide;
constexpr double kAugmentMaxDegrees = 30;
constexpr double kAugmentNoiseProbability = 0.5, kAugmentMaxNoiseSigma = 100;  // pixel units
constexpr double kAugmentBlurProbability = 0.3, kAugmentMinBlur = 0.5, kAugmentMaxBlur = 1.5;
constexpr const char* kModelName = "cnn-16-32-64";

struct TrainingSet {
  std::vector<imaging::Image> images;
  std::vector<int64_t> labels;
};

// DATA/<class>/<file>.png for classes 0..9, files in name order so that the order (and the
// training run) does not depend on the file system.
StatusOr<TrainingSet> LoadTrainingSet(const std::string& data_dir) {
  std::error_code ec;
  if (!fs::is_directory(data_dir, ec)) {
    return NotFoundError("--data " + data_dir + ": not a folder");
  }
  std::vector<std::pair<std::string, int>> files;
  for (fs::directory_iterator it(data_dir, ec), end; !ec && it != end; it.increment(ec)) {
    const std::string name = it->path().filename().string();
    if (name.empty() || name[0] == '.') continue;
    if (!it->is_directory(ec)) continue;
    if (name.size() != 1 || name[0] < '0' || name[0] > '9') {
      return InvalidArgumentError(data_dir + "/" + name +
                                  ": class folders must be named 0..9 (wnid-folders of digits)");
    }
    const int label = name[0] - '0';
    for (fs::directory_iterator file(it->path(), ec), file_end; !ec && file != file_end;
         file.increment(ec)) {
      const std::string file_name = file->path().filename().string();
      if (file_name.empty() || file_name[0] == '.' || !file->is_regular_file(ec)) continue;
      files.emplace_back(file->path().string(), label);
    }
    if (ec) break;
  }
  if (ec) return ErrnoToStatus(ec.value(), "reading " + data_dir);
  std::sort(files.begin(), files.end());
  if (files.empty()) return InvalidArgumentError(data_dir + ": no images in class folders 0..9");
  TrainingSet set;
  imaging::DecodeOptions decode;
  decode.channels = 1;
  for (const auto& [path, label] : files) {
    TW_ASSIGN_OR_RETURN(imaging::Image image, imaging::DecodeImageFile(path, decode));
    if (image.width != kDigitSide || image.height != kDigitSide) {
      return InvalidArgumentError(path + ": " + std::to_string(image.width) + "x" +
                                  std::to_string(image.height) + ", expected 28x28");
    }
    set.images.push_back(std::move(image));
    set.labels.push_back(label);
  }
  return set;
}

// A weight or bias initialised like PyTorch's default for Conv2d / Linear: uniform in
// +-1/sqrt(fan_in).
at::Tensor InitParameter(at::IntArrayRef shape, int64_t fan_in) {
  const double bound = 1.0 / std::sqrt(static_cast<double>(fan_in));
  return ((torch::rand(shape) * 2 - 1) * bound).requires_grad_(true);
}

// Conv(1->16) ReLU MaxPool -> Conv(16->32) ReLU MaxPool -> Linear(1568->64) ReLU -> Linear(->10).
torch::jit::Module MakeModel() {
  torch::jit::Module m("DemoDigitsCnn");
  m.register_parameter("conv1_w", InitParameter({16, 1, 3, 3}, 9), false);
  m.register_parameter("conv1_b", InitParameter({16}, 9), false);
  m.register_parameter("conv2_w", InitParameter({32, 16, 3, 3}, 16 * 9), false);
  m.register_parameter("conv2_b", InitParameter({32}, 16 * 9), false);
  m.register_parameter("fc1_w", InitParameter({64, 32 * 7 * 7}, 32 * 7 * 7), false);
  m.register_parameter("fc1_b", InitParameter({64}, 32 * 7 * 7), false);
  m.register_parameter("fc2_w", InitParameter({10, 64}, 64), false);
  m.register_parameter("fc2_b", InitParameter({10}, 64), false);
  m.define(R"(
    def forward(self, x):
        h = torch.relu(torch.conv2d(x, self.conv1_w, self.conv1_b, [1, 1], [1, 1]))
        h = torch.max_pool2d(h, [2, 2])
        h = torch.relu(torch.conv2d(h, self.conv2_w, self.conv2_b, [1, 1], [1, 1]))
        h = torch.max_pool2d(h, [2, 2])
        h = torch.flatten(h, 1)
        h = torch.relu(torch.matmul(h, self.fc1_w.t()) + self.fc1_b)
        return torch.matmul(h, self.fc2_w.t()) + self.fc2_b
  )");
  return m;
}

imaging::Image Augment(const imaging::Image& image, Rng& rng) {
  imaging::Image out = Rotate(image, rng.Uniform(-kAugmentMaxDegrees, kAugmentMaxDegrees));
  if (rng.Uniform() < kAugmentNoiseProbability) {
    out = AddGaussianNoise(out, rng.Uniform(0, kAugmentMaxNoiseSigma), rng);
  }
  if (rng.Uniform() < kAugmentBlurProbability) {
    out = GaussianBlur(out, rng.Uniform(kAugmentMinBlur, kAugmentMaxBlur));
  }
  return out;
}

// The epoch's images in `order`, augmented or not, as normalised [N, 1, 28, 28] floats.
at::Tensor EpochInputs(const TrainingSet& set, const std::vector<int>& order, bool augment,
                       Rng& rng) {
  std::vector<uint8_t> pixels(order.size() * kPixels);
  for (size_t i = 0; i < order.size(); ++i) {
    const imaging::Image& source = set.images[order[i]];
    if (augment) {
      const imaging::Image augmented = Augment(source, rng);
      std::copy(augmented.pixels.begin(), augmented.pixels.end(), pixels.begin() + i * kPixels);
    } else {
      std::copy(source.pixels.begin(), source.pixels.end(), pixels.begin() + i * kPixels);
    }
  }
  at::Tensor bytes = torch::from_blob(
      pixels.data(), {static_cast<int64_t>(order.size()), 1, kDigitSide, kDigitSide},
      torch::kUInt8);
  // to() copies, so the result owns its data.
  return ((bytes.to(torch::kFloat) / 255.0f) - static_cast<float>(kInputMean)) /
         static_cast<float>(kInputStd);
}

std::string EpochStem(int epoch) {
  char stem[32];
  std::snprintf(stem, sizeof(stem), "epoch_%03d", epoch);
  return stem;
}

StatusOr<std::string> SidecarJson(const TrainOptions& options, const EpochReport& report,
                                  size_t images) {
  nlohmann::json hparams = {
      {"model", kModelName},      {"augment", options.augment},       {"seed", options.seed},
      {"epochs", options.epochs}, {"batch_size", options.batch_size}, {"lr", options.learning_rate},
      {"optimizer", "adam"},      {"train_images", images},           {"input_mean", kInputMean},
      {"input_std", kInputStd}};
  nlohmann::json sidecar = {{"step", report.step}, {"epoch", report.epoch}, {"hparams", hparams}};
  TW_ASSIGN_OR_RETURN(std::string text, CanonicalJson(sidecar));
  return text + "\n";
}

Status ValidateOptions(const TrainOptions& options) {
  if (options.data_dir.empty()) return InvalidArgumentError("--data is required");
  if (options.out_dir.empty()) return InvalidArgumentError("--out is required");
  if (options.epochs < 1 || options.epochs > 999) {
    return InvalidArgumentError("--epochs must be 1..999 (got " + std::to_string(options.epochs) +
                                ")");
  }
  if (options.threads < 1) return InvalidArgumentError("--threads must be at least 1");
  if (options.batch_size < 1) return InvalidArgumentError("--batch-size must be at least 1");
  if (!(options.learning_rate > 0) || !std::isfinite(options.learning_rate)) {
    return InvalidArgumentError("--lr must be a positive number");
  }
  return OkStatus();
}

StatusOr<std::vector<EpochReport>> TrainUnguarded(
    const TrainOptions& options, const std::function<void(const EpochReport&)>& on_epoch) {
  TW_ASSIGN_OR_RETURN(TrainingSet set, LoadTrainingSet(options.data_dir));
  TW_RETURN_IF_ERROR(MakeDirs(options.out_dir));

  at::set_num_threads(options.threads);
  torch::manual_seed(options.seed);
  torch::jit::Module model = MakeModel();
  model.train();
  std::vector<at::Tensor> parameters;
  for (const at::Tensor& p : model.parameters()) parameters.push_back(p);
  torch::optim::Adam optimizer(parameters, torch::optim::AdamOptions(options.learning_rate));
  const at::Tensor labels = torch::tensor(set.labels, torch::kLong);

  Rng rng(options.seed);
  std::vector<int> order(set.images.size());
  for (size_t i = 0; i < order.size(); ++i) order[i] = static_cast<int>(i);
  const int64_t n = static_cast<int64_t>(order.size());
  std::vector<EpochReport> reports;
  int64_t step = 0;
  for (int epoch = 1; epoch <= options.epochs; ++epoch) {
    const auto start = std::chrono::steady_clock::now();
    rng.Shuffle(order);
    const at::Tensor inputs = EpochInputs(set, order, options.augment, rng);
    const at::Tensor targets =
        labels.index_select(0, torch::tensor(std::vector<int64_t>(order.begin(), order.end())));
    double loss_sum = 0;
    int64_t correct = 0;
    for (int64_t begin = 0; begin < n; begin += options.batch_size) {
      const int64_t end = std::min<int64_t>(begin + options.batch_size, n);
      const at::Tensor x = inputs.slice(0, begin, end);
      const at::Tensor y = targets.slice(0, begin, end);
      optimizer.zero_grad();
      const at::Tensor logits = model.forward({x}).toTensor();
      const at::Tensor loss = torch::nn::functional::cross_entropy(logits, y);
      loss.backward();
      optimizer.step();
      ++step;
      loss_sum += loss.item<double>() * static_cast<double>(end - begin);
      correct += logits.argmax(1).eq(y).sum().item<int64_t>();
    }

    EpochReport report;
    report.epoch = epoch;
    report.step = step;
    report.loss = loss_sum / static_cast<double>(n);
    report.train_accuracy = 100.0 * static_cast<double>(correct) / static_cast<double>(n);
    const std::string stem = options.out_dir + "/" + EpochStem(epoch);
    report.checkpoint = stem + ".pt";
    TW_ASSIGN_OR_RETURN(std::string sidecar, SidecarJson(options, report, set.images.size()));
    TW_RETURN_IF_ERROR(WriteFileAtomic(stem + ".json", sidecar));
    // A leading dot and .tmp: the daemon's watcher ignores the file until it is renamed.
    const std::string temp = options.out_dir + "/." + EpochStem(epoch) + ".pt.tmp";
    model.save(temp);
    std::error_code ec;
    fs::rename(temp, report.checkpoint, ec);
    if (ec) return ErrnoToStatus(ec.value(), "renaming " + temp + " to " + report.checkpoint);
    report.seconds =
        std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
    reports.push_back(report);
    if (on_epoch) on_epoch(report);
  }
  return reports;
}

}  // namespace

StatusOr<std::vector<EpochReport>> Train(const TrainOptions& options,
                                         const std::function<void(const EpochReport&)>& on_epoch) {
  TW_RETURN_IF_ERROR(ValidateOptions(options));
  try {
    return TrainUnguarded(options, on_epoch);
  } catch (const c10::Error& e) {
    return InternalError(std::string("LibTorch failed while training: ") +
                         e.what_without_backtrace());
  } catch (const std::exception& e) {
    return InternalError(std::string("training failed: ") + e.what());
  }
}

}  // namespace tw::demo
