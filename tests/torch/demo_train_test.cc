// tw-demo-train's library on a tiny generated dataset: the checkpoint it writes loads with the
// evaluator's loader and gives [N, 10] logits, its sidecar passes the watcher's parser, and a
// run is reproducible bit for bit from its seed.
#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <torch/script.h>

#include <filesystem>
#include <set>

#include "common/file_util.h"
#include "common/sha256.h"
#include "demo/png_writer.h"
#include "demo/rng.h"
#include "demo/trainer.h"
#include "eval/checkpoint.h"
#include "tests/testing/status_matchers.h"
#include "tests/testing/temp_dir.h"
#include "watch/names.h"
#include "watch/sidecar.h"

namespace tw::demo {
namespace {

namespace fs = std::filesystem;
using ::testing::HasSubstr;
using ::tw::testing::StatusIs;
using ::tw::testing::TempDir;

// 10 classes x `per_class` 28x28 digits: class c is a bright bar on row 2c + 4, plus noise.
void WriteTinyDataset(const std::string& dir, int per_class) {
  Rng rng(1);
  for (int c = 0; c < 10; ++c) {
    ASSERT_TRUE(MakeDirs(dir + "/" + std::to_string(c)).ok());
    for (int k = 0; k < per_class; ++k) {
      imaging::Image image;
      image.width = image.height = 28;
      image.channels = 1;
      image.pixels.resize(784);
      for (int i = 0; i < 784; ++i) image.pixels[i] = static_cast<uint8_t>(rng.Below(40));
      for (int x = 3; x < 25; ++x) image.pixels[(2 * c + 4) * 28 + x] = 250;
      auto png = EncodePng(image);
      ASSERT_TRUE(png.ok()) << png.status().ToString();
      ::tw::testing::WriteTestFile(dir + "/" + std::to_string(c) + "/" + std::to_string(k) + ".png",
                                   *png);
    }
  }
}

std::set<std::string> FileNames(const std::string& dir) {
  std::set<std::string> names;
  for (const auto& entry : fs::directory_iterator(dir)) names.insert(entry.path().filename());
  return names;
}

class DemoTrainTest : public ::testing::Test {
 protected:
  void SetUp() override { WriteTinyDataset(tmp_.Sub("data"), 4); }

  TrainOptions Options(const std::string& run) const {
    TrainOptions options;
    options.data_dir = tmp_.Sub("data");
    options.out_dir = tmp_.Sub(run);
    options.epochs = 1;
    options.batch_size = 8;
    options.seed = 3;
    return options;
  }

  TempDir tmp_;
};

TEST_F(DemoTrainTest, CheckpointLoadsInTheEvaluatorAndSidecarValidates) {
  int epochs_seen = 0;
  TW_ASSERT_OK_AND_ASSIGN(std::vector<EpochReport> reports,
                          Train(Options("run"), [&](const EpochReport&) { ++epochs_seen; }));
  ASSERT_EQ(reports.size(), 1u);
  EXPECT_EQ(epochs_seen, 1);
  const EpochReport& report = reports[0];
  EXPECT_EQ(report.epoch, 1);
  EXPECT_EQ(report.step, 5);  // 40 images in batches of 8
  EXPECT_TRUE(std::isfinite(report.loss));
  EXPECT_EQ(report.checkpoint, tmp_.Sub("run/epoch_001.pt"));
  // Nothing but the sidecar and the checkpoint: the temporary name was renamed away.
  EXPECT_EQ(FileNames(tmp_.Sub("run")), (std::set<std::string>{"epoch_001.json", "epoch_001.pt"}));
  EXPECT_TRUE(watch::IsTemporaryName(".epoch_001.pt.tmp"));  // the name it is written under

  TW_ASSERT_OK_AND_ASSIGN(std::optional<watch::Sidecar> sidecar,
                          watch::ReadSidecarFor(report.checkpoint));
  ASSERT_TRUE(sidecar.has_value());
  EXPECT_EQ(sidecar->step, 5);
  EXPECT_EQ(sidecar->epoch, 1.0);
  EXPECT_THAT(sidecar->hparams_json, HasSubstr("\"augment\":false"));
  EXPECT_THAT(sidecar->hparams_json, HasSubstr("\"input_mean\":0.1307"));

  TW_ASSERT_OK_AND_ASSIGN(eval::CheckpointFormat format,
                          eval::DetectCheckpointFormat(report.checkpoint));
  EXPECT_EQ(format, eval::CheckpointFormat::kTorchScript);
  TW_ASSERT_OK_AND_ASSIGN(eval::LoadedModel model,
                          eval::LoadCheckpoint(report.checkpoint, std::nullopt, {}));
  EXPECT_GT(model.parameters, 100000);
  TW_ASSERT_OK_AND_ASSIGN(at::Tensor logits, eval::Forward(model, torch::randn({3, 1, 28, 28})));
  EXPECT_EQ(logits.sizes(), (std::vector<int64_t>{3, 10}));
  EXPECT_TRUE(torch::isfinite(logits).all().item<bool>());
}

TEST_F(DemoTrainTest, SameSeedGivesTheSameCheckpointBytes) {
  TW_ASSERT_OK(Train(Options("a"), nullptr));
  TW_ASSERT_OK(Train(Options("b"), nullptr));
  TrainOptions other_seed = Options("c");
  other_seed.seed = 4;
  TW_ASSERT_OK(Train(other_seed, nullptr));
  TW_ASSERT_OK_AND_ASSIGN(std::string a, Sha256FileHex(tmp_.Sub("a/epoch_001.pt")));
  TW_ASSERT_OK_AND_ASSIGN(std::string b, Sha256FileHex(tmp_.Sub("b/epoch_001.pt")));
  TW_ASSERT_OK_AND_ASSIGN(std::string c, Sha256FileHex(tmp_.Sub("c/epoch_001.pt")));
  EXPECT_EQ(a, b);
  EXPECT_NE(a, c);
}

TEST_F(DemoTrainTest, AugmentedRunWritesOneCheckpointPerEpoch) {
  TrainOptions options = Options("aug");
  options.augment = true;
  options.epochs = 2;
  TW_ASSERT_OK_AND_ASSIGN(std::vector<EpochReport> reports, Train(options, nullptr));
  ASSERT_EQ(reports.size(), 2u);
  EXPECT_EQ(reports[1].step, 10);
  EXPECT_EQ(FileNames(tmp_.Sub("aug")), (std::set<std::string>{"epoch_001.json", "epoch_001.pt",
                                                               "epoch_002.json", "epoch_002.pt"}));
  TW_ASSERT_OK_AND_ASSIGN(std::optional<watch::Sidecar> sidecar,
                          watch::ReadSidecarFor(reports[1].checkpoint));
  ASSERT_TRUE(sidecar.has_value());
  EXPECT_EQ(sidecar->epoch, 2.0);
  EXPECT_THAT(sidecar->hparams_json, HasSubstr("\"augment\":true"));
}

TEST_F(DemoTrainTest, BadDataIsNamed) {
  TrainOptions missing = Options("run");
  missing.data_dir = tmp_.Sub("nowhere");
  EXPECT_THAT(Train(missing, nullptr), StatusIs(StatusCode::kNotFound, HasSubstr("nowhere")));
  ASSERT_TRUE(MakeDirs(tmp_.Sub("data/cat")).ok());
  EXPECT_THAT(Train(Options("run"), nullptr),
              StatusIs(StatusCode::kInvalidArgument, HasSubstr("data/cat: class folders")));
  fs::remove_all(tmp_.Sub("data/cat"));
  ::tw::testing::WriteTestFile(tmp_.Sub("data/3/big.png"), "not a png");
  EXPECT_THAT(Train(Options("run"), nullptr),
              StatusIs(StatusCode::kInvalidArgument, HasSubstr("big.png")));
  TrainOptions zero = Options("run");
  zero.epochs = 0;
  EXPECT_THAT(Train(zero, nullptr), StatusIs(StatusCode::kInvalidArgument, HasSubstr("--epochs")));
}

}  // namespace
}  // namespace tw::demo
