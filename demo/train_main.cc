// tw-demo-train: trains the demo's small CNN on a folder of digits and writes a TorchScript
// checkpoint and its sidecar after every epoch (demo/README.md).
// Exit codes: 0 ok, 2 bad usage or input, 3 data not found, 1 anything else.
#include <CLI/CLI.hpp>
#include <cstdio>
#include <string>

#include "cli/exit_codes.h"
#include "demo/trainer.h"

int main(int argc, char** argv) {
  tw::demo::TrainOptions options;
  CLI::App app{
      "Trains the TransferWatch demo's CNN on 28x28 digits (wnid-folders 0..9) and writes "
      "OUT/epoch_NNN.json then OUT/epoch_NNN.pt (TorchScript) after every epoch.",
      "tw-demo-train"};
  app.add_option("--data", options.data_dir, "Training images: DATA/<class 0..9>/*.png")
      ->required();
  app.add_option("--out", options.out_dir, "Run folder for the checkpoints")->required();
  app.add_option("--epochs", options.epochs, "Epochs (default 4)");
  app.add_flag("--augment", options.augment,
               "Random rotations (+-30 degrees), noise and blur on the training images");
  app.add_option("--seed", options.seed, "Random seed (default 0)");
  app.add_option("--threads", options.threads, "LibTorch threads (default 1: reproducible)");
  app.add_option("--batch-size", options.batch_size, "Images per step (default 64)");
  app.add_option("--lr", options.learning_rate, "Adam learning rate (default 0.001)");
  try {
    app.parse(argc, argv);
  } catch (const CLI::CallForHelp& e) {
    return app.exit(e);
  } catch (const CLI::ParseError& e) {
    app.exit(e);
    return 2;
  }

  auto reports = tw::demo::Train(options, [](const tw::demo::EpochReport& r) {
    std::printf("epoch %d  step %lld  loss %.4f  train acc %.2f%%  %.1f s  -> %s\n", r.epoch,
                static_cast<long long>(r.step), r.loss, r.train_accuracy, r.seconds,
                r.checkpoint.c_str());
    std::fflush(stdout);
  });
  if (!reports.ok()) {
    std::fprintf(stderr, "tw-demo-train: error: %s\n", reports.status().message().c_str());
    return tw::cli::ExitCodeFor(reports.status());
  }
  return 0;
}
