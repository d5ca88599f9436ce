#include "demo/demo_data.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <filesystem>
#include <map>

#include "common/sha256.h"
#include "imaging/image.h"
#include "tests/testing/status_matchers.h"
#include "tests/testing/temp_dir.h"
#include "tests/unit/demo/fake_mnist_package.h"

namespace tw::demo {
namespace {

namespace fs = std::filesystem;
using ::testing::HasSubstr;
using ::tw::testing::StatusIs;
using ::tw::testing::TempDir;

// Every file under `dir` (dot-files included) -> its SHA-256.
std::map<std::string, std::string> Tree(const std::string& dir) {
  std::map<std::string, std::string> tree;
  for (const auto& entry : fs::recursive_directory_iterator(dir)) {
    if (!entry.is_regular_file()) continue;
    auto sha = Sha256FileHex(entry.path().string());
    tree[fs::relative(entry.path(), dir).string()] = sha.ok() ? *sha : sha.status().ToString();
  }
  return tree;
}

int CountPngs(const std::string& dir) {
  int n = 0;
  for (const auto& entry : fs::recursive_directory_iterator(dir)) {
    n += entry.path().extension() == ".png";
  }
  return n;
}

class DemoDataTest : public ::testing::Test {
 protected:
  void SetUp() override { WriteFakeMnistPackage(tmp_.Sub("package"), 10); }

  DemoDataOptions Options(const std::string& out) const {
    DemoDataOptions options;
    options.mnist_dir = tmp_.Sub("package");
    options.out_dir = tmp_.Sub(out);
    options.train = 30;
    options.test = 40;
    options.c_per_class = 1;
    return options;
  }

  static StatusOr<DemoDataReport> Build(const DemoDataOptions& options) {
    return BuildDemoData(options, nullptr);
  }

  TempDir tmp_;
};

TEST_F(DemoDataTest, WritesEveryDatasetInItsLayout) {
  TW_ASSERT_OK_AND_ASSIGN(DemoDataReport report, Build(Options("out")));
  EXPECT_FALSE(report.up_to_date);
  const std::string out = tmp_.Sub("out");
  EXPECT_EQ(CountPngs(out + "/train"), 30);
  for (const char* name : {"mnist", "mnist-noise", "mnist-blur", "mnist-rotate", "mnist-invert"}) {
    EXPECT_EQ(CountPngs(out + "/" + name), 40) << name;
  }
  // 5 corruptions x 3 severities x 10 classes x 1 digit.
  EXPECT_EQ(CountPngs(out + "/mnist-c"), 150);
  EXPECT_EQ(CountPngs(out + "/mnist-c/rotate/3"), 10);
  for (int c = 0; c < 10; ++c) {
    EXPECT_TRUE(fs::is_directory(out + "/mnist/" + std::to_string(c))) << c;
    EXPECT_EQ(CountPngs(out + "/mnist-c/noise/1/" + std::to_string(c)), 1) << c;
  }
  EXPECT_EQ(::tw::testing::ReadTestFile(out + "/classes.txt"), "0\n1\n2\n3\n4\n5\n6\n7\n8\n9\n");
  EXPECT_TRUE(fs::exists(out + "/.tw-demo-data"));
  ASSERT_EQ(report.datasets.size(), 7u);
  EXPECT_EQ(report.datasets.back(), std::make_pair(std::string("mnist-c"), 150));

  // The held-out split and the training split are disjoint, and every variant holds the same
  // relative paths as the clean reference.
  std::map<std::string, std::string> train = Tree(out + "/train");
  std::map<std::string, std::string> clean = Tree(out + "/mnist");
  for (const auto& [path, sha] : clean) EXPECT_EQ(train.count(path), 0u) << path;
  for (const char* name : {"mnist-noise", "mnist-invert"}) {
    std::map<std::string, std::string> variant = Tree(out + "/" + name);
    ASSERT_EQ(variant.size(), clean.size());
    for (auto a = variant.begin(), b = clean.begin(); a != variant.end(); ++a, ++b) {
      EXPECT_EQ(a->first, b->first);
      EXPECT_NE(a->second, b->second) << name << " " << a->first;
    }
  }

  // A written file decodes to the package's digit (class 3 holds digits 30..39, k = id - 30).
  const std::string first_clean = clean.begin()->first;  // "<class>/<id>.png"
  const int label = first_clean[0] - '0';
  const int id = std::stoi(first_clean.substr(2, 5));
  imaging::DecodeOptions decode;
  decode.channels = 1;
  TW_ASSERT_OK_AND_ASSIGN(imaging::Image image,
                          imaging::DecodeImageFile(out + "/mnist/" + first_clean, decode));
  ASSERT_EQ(image.width, 28);
  ASSERT_EQ(image.height, 28);
  for (int i = 0; i < 784; ++i) ASSERT_EQ(image.pixels[i], FakePixel(label, id - label * 10, i));
}

TEST_F(DemoDataTest, SameInputAndOptionsGiveTheSameBytes) {
  TW_ASSERT_OK(Build(Options("a")));
  TW_ASSERT_OK(Build(Options("b")));
  const auto a = Tree(tmp_.Sub("a"));
  EXPECT_EQ(a.size(), 30u + 5 * 40 + 150 + 2);  // + classes.txt and the stamp
  EXPECT_EQ(a, Tree(tmp_.Sub("b")));
}

TEST_F(DemoDataTest, SecondRunIsUpToDateAndOptionsOrInputChangesRebuild) {
  TW_ASSERT_OK(Build(Options("out")));
  TW_ASSERT_OK_AND_ASSIGN(DemoDataReport again, Build(Options("out")));
  EXPECT_TRUE(again.up_to_date);
  EXPECT_TRUE(again.datasets.empty());

  DemoDataOptions fewer = Options("out");
  fewer.test = 30;
  TW_ASSERT_OK_AND_ASSIGN(DemoDataReport rebuilt, Build(fewer));
  EXPECT_FALSE(rebuilt.up_to_date);
  EXPECT_EQ(CountPngs(tmp_.Sub("out/mnist")), 30);  // the old dataset was replaced, not merged
  for (const auto& entry : fs::directory_iterator(tmp_.Sub("out"))) {
    EXPECT_EQ(entry.path().filename().string().find(".tmp"), std::string::npos)
        << "a temporary folder is left: " << entry.path();
  }

  // A changed package file changes the input hash.
  std::string text = ::tw::testing::ReadTestFile(tmp_.Sub("package/src/digits/0.json"));
  ::tw::testing::WriteTestFile(tmp_.Sub("package/src/digits/0.json"), text + "\n");
  TW_ASSERT_OK_AND_ASSIGN(DemoDataReport changed, Build(Options("out")));
  EXPECT_FALSE(changed.up_to_date);

  // A dataset removed behind the stamp's back is rebuilt.
  fs::remove_all(tmp_.Sub("out/mnist-blur"));
  TW_ASSERT_OK_AND_ASSIGN(DemoDataReport repaired, Build(Options("out")));
  EXPECT_FALSE(repaired.up_to_date);
  EXPECT_EQ(CountPngs(tmp_.Sub("out/mnist-blur")), 40);
}

TEST_F(DemoDataTest, BadOptionsNameTheFlag) {
  DemoDataOptions too_many = Options("out");
  too_many.train = 61;
  EXPECT_THAT(Build(too_many), StatusIs(StatusCode::kInvalidArgument,
                                        HasSubstr("--train 61 --test 40: 61 training + 40 "
                                                  "held-out digits is more than the 100")));
  DemoDataOptions per_class = Options("out");
  per_class.c_per_class = 20;
  EXPECT_THAT(Build(per_class),
              StatusIs(StatusCode::kInvalidArgument, HasSubstr("--c-per-class 20: class")));
  DemoDataOptions zero = Options("out");
  zero.test = 0;
  EXPECT_THAT(Build(zero), StatusIs(StatusCode::kInvalidArgument, HasSubstr("--test")));
  DemoDataOptions missing = Options("out");
  missing.mnist_dir = tmp_.Sub("nowhere");
  EXPECT_THAT(Build(missing),
              StatusIs(StatusCode::kNotFound, HasSubstr("nowhere/src/digits/0.json")));
  EXPECT_FALSE(fs::exists(tmp_.Sub("out")));
}

}  // namespace
}  // namespace tw::demo
