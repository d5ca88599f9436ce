// `transferwatch eval` on datasets that share files and on a corruption suite: one forward pass
// over the union of the files, each dataset scored by its own protocol, and the corruption
// suite's CE/mCE. The model is defined in C++ (torch::jit::Module::define); images come from
// Pillow (/usr/bin/python3), the reference decoder.
#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <torch/script.h>

#include <cstdlib>
#include <map>
#include <nlohmann/json.hpp>

#include "common/process.h"
#include "tests/testing/cli.h"
#include "tests/testing/paths.h"
#include "tests/testing/temp_dir.h"

namespace tw {
namespace {

using ::testing::HasSubstr;
using ::tw::testing::TempDir;

// A 1000-class "model": a convolution, ReLU, global mean and a linear layer. Deterministic,
// cheap, different logits for different images, and real conv/GEMM kernels whose choice
// depends on the batch shape.
void SaveModel(const std::string& path) {
  torch::manual_seed(7);
  torch::jit::Module m("TinyConv");
  m.register_parameter("conv_w", torch::randn({16, 3, 3, 3}) * 0.2, false);
  m.register_parameter("conv_b", torch::randn({16}) * 0.1, false);
  m.register_parameter("w", torch::randn({1000, 16}), false);
  m.register_parameter("b", torch::randn({1000}) * 0.1, false);
  m.define(R"(
    def forward(self, x):
        h = torch.relu(torch.conv2d(x, self.conv_w, self.conv_b, [1, 1], [1, 1]))
        pooled = h.mean(dim=[2, 3])
        return torch.matmul(pooled, self.w.t()) + self.b
  )");
  m.save(path);
}

// Writes PNG images with Pillow: [(relative path, width, height, seed)].
void MakeImages(const std::string& root, const std::vector<std::string>& paths, int width,
                int height) {
  std::string script =
      "import sys, os, numpy as np\n"
      "from PIL import Image\n"
      "root, w, h = sys.argv[1], int(sys.argv[2]), int(sys.argv[3])\n"
      "for i, rel in enumerate(sys.argv[4:]):\n"
      "    p = os.path.join(root, rel); os.makedirs(os.path.dirname(p), exist_ok=True)\n"
      "    a = (np.random.default_rng(i).random((h, w, 3)) * 255).astype(np.uint8)\n"
      "    Image.fromarray(a).save(p)\n";
  ProcessSpec spec;
  spec.argv = {"/usr/bin/python3",    "-c", script, root, std::to_string(width),
               std::to_string(height)};
  spec.argv.insert(spec.argv.end(), paths.begin(), paths.end());
  auto result = RunProcess(spec);
  ASSERT_TRUE(result.ok()) << result.status().ToString();
  ASSERT_EQ(result->exit_code, 0) << "image generation needs Debian's python3-pil and "
                                     "python3-numpy (scripts/setup): "
                                  << result->output;
}

class EvalProtocolsTest : public ::testing::Test {
 protected:
  void SetUp() override {
    SaveModel(tmp_.Sub("model.pt"));
    ASSERT_EQ(Cli({"db", "start"}).exit_code, 0);
  }
  void TearDown() override { Cli({"db", "stop", "--force"}); }

  std::vector<std::string> WithState(std::vector<std::string> args) {
    args.insert(args.begin(), {"--state-dir", tmp_.Sub("state")});
    return args;
  }
  ProcessResult Cli(std::vector<std::string> args) {
    return ::tw::testing::RunCli(WithState(std::move(args)));
  }
  nlohmann::json Json(std::vector<std::string> args) {
    return ::tw::testing::RunCliJson(WithState(std::move(args)));
  }

  TempDir tmp_;
};

TEST_F(EvalProtocolsTest, DatasetsSharingFilesCostOneForwardPass) {
  // ImageNet val: two classes of ImageNet-A (n01498041, n01531178) and one other (n01440764).
  std::vector<std::string> val;
  for (const char* cls : {"n01498041", "n01531178", "n01440764"}) {
    for (int i = 0; i < 3; ++i) val.push_back(std::string(cls) + "/v" + std::to_string(i) + ".png");
  }
  MakeImages(tmp_.Sub("val"), val, 80, 60);
  MakeImages(tmp_.Sub("a"), {"n01498041/a0.png", "n01531178/a1.png"}, 64, 64);
  ASSERT_EQ(Cli({"dataset", "add", "imagenet", tmp_.Sub("val"), "--preset", "imagenet",
                 "--img-size", "32", "--crop-pct", "1"})
                .exit_code,
            0);
  auto a = Cli({"dataset", "add", "imagenet-a", tmp_.Sub("a"), "--preset", "imagenet-a",
                "--img-size", "32", "--crop-pct", "1"});
  ASSERT_EQ(a.exit_code, 0) << a.output;

  nlohmann::json run = Json({"eval", tmp_.Sub("model.pt"), "--dataset", "imagenet", "--dataset",
                             "imagenet-a-clean", "--dataset", "imagenet-a", "--batch-size", "4"});
  ASSERT_EQ(run["evaluations"].size(), 3u);
  std::map<std::string, nlohmann::json> by_name;
  for (const auto& e : run["evaluations"]) by_name[e["dataset"]] = e;
  EXPECT_EQ(by_name["imagenet"]["n"], 9);
  EXPECT_EQ(by_name["imagenet-a-clean"]["n"], 6);  // val restricted to A's classes
  EXPECT_EQ(by_name["imagenet-a"]["n"], 2);
  for (const auto& [name, e] : by_name) EXPECT_FALSE(e["cached"].get<bool>()) << name;

  // One pass: the 9 val images (the clean subset reuses 6 of them) and A's 2, not 17.
  nlohmann::json results = Json({"results", "--dataset", "imagenet-a-clean"});
  ASSERT_EQ(results["results"].size(), 1u);
  nlohmann::json passes = results["results"][0]["provenance"]["passes"];
  ASSERT_EQ(passes.size(), 1u) << passes.dump();
  EXPECT_EQ(passes[0]["images"], 11);
  EXPECT_EQ(passes[0]["datasets"].size(), 3u);

  // The subset changes the scoring, not the forward pass: every clean prediction is one of
  // A's 200 classes, while ImageNet val's may be any of the 1000.
  auto exported = Cli({"predictions", "export", "val/model.pt", "--dataset", "imagenet-a-clean"});
  ASSERT_EQ(exported.exit_code, 3)
      << "the checkpoint's run is the folder it is in: " << exported.output;
  std::string name = tmp_.path().substr(tmp_.path().rfind('/') + 1) + "/model.pt";
  auto clean = Cli({"predictions", "export", name, "--dataset", "imagenet-a-clean"});
  ASSERT_EQ(clean.exit_code, 0) << clean.output;
  std::string a_indices = ::tw::testing::ReadTestFile(
      std::string(::tw::testing::ImagenetDataDir()) + "/imagenet_a_indices.txt");
  std::set<std::string> allowed;
  std::stringstream lines(a_indices);
  for (std::string line; std::getline(lines, line);) allowed.insert(line);
  std::stringstream csv(clean.output);
  std::string row;
  std::getline(csv, row);  // header
  int rows = 0;
  while (std::getline(csv, row)) {
    std::string pred1 = row.substr(row.find(',') + 1);
    pred1 = pred1.substr(0, pred1.find(','));
    EXPECT_TRUE(allowed.count(pred1)) << "prediction " << pred1 << " is outside A's classes";
    ++rows;
  }
  EXPECT_EQ(rows, 6);

  // Asking again is answered from the store.
  nlohmann::json cached = Json({"eval", tmp_.Sub("model.pt"), "--dataset", "imagenet", "--dataset",
                                "imagenet-a", "--batch-size", "4"});
  for (const auto& e : cached["evaluations"]) EXPECT_TRUE(e["cached"].get<bool>());
}

TEST_F(EvalProtocolsTest, SharingAPassDoesNotChangeADatasetsResult) {
  // 7 val images, 4 of them in A's classes: alone, the clean subset is one batch of 3 and one of
  // 1 (batch size 3); inside ImageNet val's pass its images sit in other batches, beside other
  // images. The evaluation key is the same, so the results must be too, bit for bit.
  std::vector<std::string> val;
  for (const char* cls : {"n01498041", "n01531178", "n01440764"}) {
    for (int i = 0; i < (std::string(cls) == "n01440764" ? 3 : 2); ++i) {
      val.push_back(std::string(cls) + "/v" + std::to_string(i) + ".png");
    }
  }
  MakeImages(tmp_.Sub("val"), val, 70, 50);
  MakeImages(tmp_.Sub("a"), {"n01498041/a0.png"}, 64, 64);
  ASSERT_EQ(Cli({"dataset", "add", "imagenet", tmp_.Sub("val"), "--preset", "imagenet",
                 "--img-size", "24", "--crop-pct", "1"})
                .exit_code,
            0);
  ASSERT_EQ(
      Cli({"dataset", "add", "imagenet-a", tmp_.Sub("a"), "--preset", "imagenet-a"}).exit_code, 0);
  nlohmann::json alone =
      Json({"eval", tmp_.Sub("model.pt"), "--dataset", "imagenet-a-clean", "--batch-size", "3"});
  ASSERT_EQ(alone["evaluations"].size(), 1u);
  auto together = Cli({"eval", tmp_.Sub("model.pt"), "--dataset", "imagenet", "--dataset",
                       "imagenet-a-clean", "--batch-size", "3", "--force"});
  EXPECT_EQ(together.exit_code, 0) << together.output;
  EXPECT_THAT(together.output, HasSubstr("reproduced bit for bit"));
  EXPECT_THAT(together.output, ::testing::Not(HasSubstr("NOT reproduced")));
}

TEST_F(EvalProtocolsTest, ValRealAndACleanShareOnePassEachScoredByItsProtocol) {
  // ImageNet val in class folders; ReaL = the same files with multi-label lists by base name
  // (an empty list excludes the image); A-clean derived from val.
  std::vector<std::string> val = {
      "n01498041/ILSVRC2012_val_00000001.png", "n01498041/ILSVRC2012_val_00000002.png",
      "n01531178/ILSVRC2012_val_00000003.png", "n01440764/ILSVRC2012_val_00000004.png",
      "n01440764/ILSVRC2012_val_00000005.png"};
  MakeImages(tmp_.Sub("val"), val, 60, 60);
  ::tw::testing::WriteTestFile(tmp_.Sub("real.json"), "[[6, 0], [], [11], [0, 1, 2], [0]]");
  MakeImages(tmp_.Sub("a"), {"n01531178/a.png"}, 60, 60);
  for (const std::vector<std::string>& add : std::vector<std::vector<std::string>>{
           {"imagenet", tmp_.Sub("val"), "--preset", "imagenet"},
           {"imagenet-real", tmp_.Sub("val"), "--layout", "labels-file", "--labels",
            tmp_.Sub("real.json"), "--reference", "imagenet", "--classes",
            std::string(::tw::testing::ImagenetDataDir()) + "/imagenet_synsets.txt"},
           {"imagenet-a", tmp_.Sub("a"), "--preset", "imagenet-a"}}) {
    std::vector<std::string> args = {"dataset", "add"};
    args.insert(args.end(), add.begin(), add.end());
    args.insert(args.end(), {"--img-size", "32", "--crop-pct", "1"});
    auto result = Cli(args);
    ASSERT_EQ(result.exit_code, 0) << result.output;
  }
  nlohmann::json run = Json({"eval", tmp_.Sub("model.pt"), "--dataset", "imagenet", "--dataset",
                             "imagenet-real", "--dataset", "imagenet-a-clean"});
  ASSERT_EQ(run["evaluations"].size(), 3u);
  std::map<std::string, nlohmann::json> by_name;
  for (const auto& e : run["evaluations"]) by_name[e["dataset"]] = e;
  EXPECT_EQ(by_name["imagenet"]["n"], 5);
  EXPECT_EQ(by_name["imagenet-real"]["n"], 4);  // one empty label list: excluded
  EXPECT_TRUE(by_name["imagenet-real"]["nll"].is_null()) << "multi-label: no NLL";
  EXPECT_TRUE(by_name["imagenet-real"]["ece"].is_null());
  EXPECT_FALSE(by_name["imagenet"]["nll"].is_null());
  EXPECT_EQ(by_name["imagenet-a-clean"]["n"], 3);
  nlohmann::json results = Json({"results", "--dataset", "imagenet-real"});
  nlohmann::json passes = results["results"][0]["provenance"]["passes"];
  ASSERT_EQ(passes.size(), 1u);
  EXPECT_EQ(passes[0]["images"], 5) << "val, ReaL and A-clean: five images, one forward pass";
  EXPECT_EQ(results["results"][0]["metrics"]["excluded"], 1);
}

TEST_F(EvalProtocolsTest, TwoDatasetsWithTheSameFilesEachGetAResult) {
  MakeImages(tmp_.Sub("val"), {"n01440764/a.png", "n01443537/b.png"}, 40, 40);
  for (const char* name : {"one", "two"}) {
    ASSERT_EQ(Cli({"dataset", "add", name, tmp_.Sub("val"), "--layout", "wnid-folders", "--classes",
                   std::string(::tw::testing::ImagenetDataDir()) + "/imagenet_synsets.txt",
                   "--img-size", "32"})
                  .exit_code,
              0);
  }
  nlohmann::json first = Json({"eval", tmp_.Sub("model.pt"), "--dataset", "one"});
  nlohmann::json second = Json({"eval", tmp_.Sub("model.pt"), "--dataset", "two"});
  EXPECT_FALSE(second["evaluations"][0]["cached"].get<bool>())
      << "the same manifest under another name is another dataset's result";
  EXPECT_EQ(Json({"results", "--dataset", "two"})["results"].size(), 1u);
  EXPECT_EQ(first["evaluations"][0]["predictions_digest"],
            second["evaluations"][0]["predictions_digest"]);
}

TEST_F(EvalProtocolsTest, SkippingBadImagesIsItsOwnResult) {
  MakeImages(tmp_.Sub("val"), {"n01440764/a.png", "n01443537/b.png"}, 40, 40);
  ::tw::testing::WriteTestFile(tmp_.Sub("val/n01443537/broken.png"), "not a png");
  ASSERT_EQ(
      Cli({"dataset", "add", "val", tmp_.Sub("val"), "--preset", "imagenet", "--img-size", "32"})
          .exit_code,
      0);
  nlohmann::json skipped =
      Json({"eval", tmp_.Sub("model.pt"), "--dataset", "val", "--skip-bad-images"});
  EXPECT_EQ(skipped["evaluations"][0]["n"], 2);
  // Without the flag the same request is another key: not answered by the skipping result.
  auto strict = Cli({"eval", tmp_.Sub("model.pt"), "--dataset", "val"});
  EXPECT_NE(strict.exit_code, 0);
  EXPECT_THAT(strict.output, HasSubstr("broken.png"));
}

TEST_F(EvalProtocolsTest, CorruptionSuitesReportSubsetsAndCe) {
  std::vector<std::string> files;
  for (const char* corruption : {"gaussian_noise", "fog", "made_up"}) {
    for (int severity = 1; severity <= 5; ++severity) {
      for (const char* cls : {"n01440764", "n01443537"}) {
        files.push_back(std::string(corruption) + "/" + std::to_string(severity) + "/" + cls +
                        "/x.png");
      }
    }
  }
  MakeImages(tmp_.Sub("c"), files, 32, 32);  // already at img_size: no resize, no crop
  auto added =
      Cli({"dataset", "add", "c", tmp_.Sub("c"), "--preset", "imagenet-c", "--img-size", "32"});
  ASSERT_EQ(added.exit_code, 0) << added.output;
  // The suite's clean reference (the preset's: imagenet), for the relative mCE.
  MakeImages(tmp_.Sub("val"), {"n01440764/v.png", "n01443537/w.png"}, 40, 40);
  ASSERT_EQ(Cli({"dataset", "add", "imagenet", tmp_.Sub("val"), "--preset", "imagenet",
                 "--img-size", "32", "--crop-pct", "1"})
                .exit_code,
            0);
  // Named suite first: the evaluator still reports the clean reference before the suite.
  nlohmann::json run =
      Json({"eval", tmp_.Sub("model.pt"), "--dataset", "c", "--dataset", "imagenet"});
  ASSERT_EQ(run["evaluations"].size(), 2u);
  EXPECT_EQ(run["evaluations"][0]["dataset"], "c");
  EXPECT_EQ(run["evaluations"][0]["n"], 30);
  double clean_top1 = run["evaluations"][1]["top1"].get<double>();

  nlohmann::json results = Json({"results", "--dataset", "c"});
  ASSERT_EQ(results["results"].size(), 1u);
  const nlohmann::json& corruption = results["results"][0]["metrics"]["corruption"];
  ASSERT_TRUE(corruption.is_object()) << results.dump();
  EXPECT_EQ(corruption["subsets"].size(), 15u);  // 3 corruptions x 5 severities
  // CE needs the AlexNet normaliser: known corruptions have one, a made-up one has none, and
  // mCE is the mean of the CEs there are.
  ASSERT_TRUE(corruption["ce"]["gaussian_noise"].is_number());
  ASSERT_TRUE(corruption["ce"]["fog"].is_number());
  EXPECT_TRUE(corruption["ce"]["made_up"].is_null());
  EXPECT_NEAR(
      corruption["mce"].get<double>(),
      (corruption["ce"]["gaussian_noise"].get<double>() + corruption["ce"]["fog"].get<double>()) /
          2,
      1e-12);
  // CE = mean error over the severities / AlexNet's mean error.
  double error_sum = 0;
  for (const auto& subset : corruption["subsets"]) {
    if (subset["corruption"] == "fog") error_sum += (100 - subset["top1"].get<double>()) / 100;
  }
  EXPECT_NEAR(corruption["ce"]["fog"].get<double>(), error_sum / 5 / 0.819324, 1e-9);
  // Relative CE: (mean error - clean error) / (AlexNet's mean error - AlexNet's clean error).
  ASSERT_TRUE(corruption["relative_mce"].is_number()) << corruption.dump();
  EXPECT_EQ(corruption["clean_dataset"], "imagenet");
  EXPECT_EQ(corruption["clean_top1"].get<double>(), clean_top1);
  double noise_sum = 0;
  for (const auto& subset : corruption["subsets"]) {
    if (subset["corruption"] == "gaussian_noise") {
      noise_sum += (100 - subset["top1"].get<double>()) / 100;
    }
  }
  double clean_error = (100 - clean_top1) / 100;
  double relative = ((error_sum / 5 - clean_error) / (0.819324 - 0.4345) +
                     (noise_sum / 5 - clean_error) / (0.886428 - 0.4345)) /
                    2;
  EXPECT_NEAR(corruption["relative_mce"].get<double>(), relative, 1e-9);

  // A suite's images are evaluated as they are: one of another size is refused, by name.
  std::vector<std::string> big = {"fog/1/n01440764/big.png"};
  MakeImages(tmp_.Sub("c2"), big, 48, 48);
  ASSERT_EQ(
      Cli({"dataset", "add", "c2", tmp_.Sub("c2"), "--preset", "imagenet-c", "--img-size", "32"})
          .exit_code,
      0);
  auto refused = Cli({"eval", tmp_.Sub("model.pt"), "--dataset", "c2"});
  EXPECT_NE(refused.exit_code, 0);
  EXPECT_THAT(refused.output, HasSubstr("big.png"));
}

}  // namespace
}  // namespace tw
