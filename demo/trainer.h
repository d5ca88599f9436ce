// tw-demo-train's work: a small CNN trained on the demo's 28 x 28 grey digits, written after
// every epoch as a TorchScript checkpoint that transferwatch-eval runs, with its sidecar.
//
// The model is a torch::jit::Module built in C++ (define()), trained through its own forward, so
// the saved file is exactly the module that was trained: forward takes [N, 1, 28, 28] floats
// normalised with kInputMean / kInputStd ((x / 255 - mean) / std, what `transferwatch eval`
// does with --channels 1 --mean 0.1307 --std 0.3081) and returns logits [N, 10].
//
// Per epoch, in the run folder: epoch_NNN.json (the sidecar: step, epoch, hparams) first, then
// the checkpoint written as .epoch_NNN.pt.tmp and renamed to epoch_NNN.pt, so a watcher never
// sees a half-written checkpoint nor a checkpoint without its sidecar.
//
// Deterministic given the seed with one thread: the same data and options give the same bytes.
//
// Thread safety: one Train at a time per process (it sets LibTorch's thread count).
#pragma once

#include <cstdint>
#include <functional>
#include <string>
#include <vector>

#include "common/status.h"

namespace tw::demo {

inline constexpr double kInputMean = 0.1307;  // MNIST's pixel mean and std (of x / 255)
inline constexpr double kInputStd = 0.3081;

struct TrainOptions {
  std::string data_dir;  // wnid-folders of 28 x 28 PNGs: DATA/<class 0..9>/<file>.png
  std::string out_dir;   // The run folder (created when missing).
  int epochs = 4;
  // Random rotations (+-30 degrees), Gaussian noise and blur on every training image.
  bool augment = false;
  uint32_t seed = 0;
  int threads = 1;  // LibTorch intra-op threads; 1 keeps runs bit-for-bit reproducible
  int batch_size = 64;
  double learning_rate = 1e-3;  // Adam
};

struct EpochReport {
  int epoch = 0;              // 1-based
  int64_t step = 0;           // optimiser steps so far
  double loss = 0;            // mean training cross-entropy over the epoch
  double train_accuracy = 0;  // percent, on the (augmented) training batches
  double seconds = 0;         // the epoch's training time, the checkpoint's writing included
  std::string checkpoint;     // path of epoch_NNN.pt
};

// Trains and writes one checkpoint per epoch, calling `on_epoch` after each. Errors:
// InvalidArgument for bad options (naming the flag) or data (a class folder that is not 0..9, an
// image that is not 28 x 28, no images), NotFound for a missing data folder, decoding errors
// naming the file, file-system errors naming the path, Internal for a LibTorch failure.
StatusOr<std::vector<EpochReport>> Train(const TrainOptions& options,
                                         const std::function<void(const EpochReport&)>& on_epoch);

}  // namespace tw::demo
