#include "demo/mnist_package.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include "tests/testing/status_matchers.h"
#include "tests/testing/temp_dir.h"
#include "tests/unit/demo/fake_mnist_package.h"

namespace tw::demo {
namespace {

using ::testing::AllOf;
using ::testing::HasSubstr;
using ::tw::testing::StatusIs;
using ::tw::testing::TempDir;
using ::tw::testing::WriteTestFile;

TEST(MnistPackageTest, ReadsEveryClassInFileOrder) {
  TempDir tmp;
  WriteFakeMnistPackage(tmp.path(), 3);
  TW_ASSERT_OK_AND_ASSIGN(MnistPackageFiles files, ReadMnistPackage(tmp.path()));
  EXPECT_EQ(files.paths[4], tmp.path() + "/src/digits/4.json");
  EXPECT_EQ(files.sha256.size(), 64u);
  TW_ASSERT_OK_AND_ASSIGN(Digits digits, ParseMnistPackage(files));
  ASSERT_EQ(digits.images.size(), 30u);
  for (int c = 0; c < 10; ++c) {
    for (int k = 0; k < 3; ++k) {
      const imaging::Image& image = digits.images[c * 3 + k];
      EXPECT_EQ(digits.labels[c * 3 + k], c);
      ASSERT_EQ(image.width, 28);
      ASSERT_EQ(image.channels, 1);
      // Three decimals of x / 255 give x back exactly.
      for (int i = 0; i < 784; ++i) ASSERT_EQ(image.pixels[i], FakePixel(c, k, i)) << c << k << i;
    }
  }
}

TEST(MnistPackageTest, HashChangesWithAnyFile) {
  TempDir tmp;
  WriteFakeMnistPackage(tmp.path(), 1);
  TW_ASSERT_OK_AND_ASSIGN(MnistPackageFiles before, ReadMnistPackage(tmp.path()));
  std::string text = ::tw::testing::ReadTestFile(tmp.Sub("src/digits/9.json"));
  text.insert(text.size() - 2, " ");
  WriteTestFile(tmp.Sub("src/digits/9.json"), text);
  TW_ASSERT_OK_AND_ASSIGN(MnistPackageFiles after, ReadMnistPackage(tmp.path()));
  EXPECT_NE(before.sha256, after.sha256);
}

TEST(MnistPackageTest, MissingFileIsNamed) {
  TempDir tmp;
  EXPECT_THAT(ReadMnistPackage(tmp.path()),
              StatusIs(StatusCode::kNotFound,
                       AllOf(HasSubstr("src/digits/0.json: not found"), HasSubstr("npm pack"))));
}

StatusOr<Digits> ParseWithFile3(const std::string& contents) {
  TempDir tmp;
  WriteFakeMnistPackage(tmp.path(), 1);
  WriteTestFile(tmp.Sub("src/digits/3.json"), contents);
  TW_ASSIGN_OR_RETURN(MnistPackageFiles files, ReadMnistPackage(tmp.path()));
  return ParseMnistPackage(files);
}

TEST(MnistPackageTest, MalformedFilesAreNamedWithTheReason) {
  EXPECT_THAT(ParseWithFile3("{\"data\": [0, 1,"),
              StatusIs(StatusCode::kInvalidArgument, AllOf(HasSubstr("3.json: bad JSON at byte"))));
  EXPECT_THAT(ParseWithFile3("{\"data\": [0, 0.5]}"),
              StatusIs(StatusCode::kInvalidArgument,
                       AllOf(HasSubstr("3.json"), HasSubstr("2 numbers, not a positive multiple "
                                                            "of 784"))));
  EXPECT_THAT(ParseWithFile3("{\"data\": []}"),
              StatusIs(StatusCode::kInvalidArgument, HasSubstr("0 numbers")));
  EXPECT_THAT(ParseWithFile3("{\"data\": [0, 1.5]}"),
              StatusIs(StatusCode::kInvalidArgument,
                       HasSubstr("3.json: value 1.500000 at data[1] is outside [0, 1]")));
  EXPECT_THAT(ParseWithFile3("{\"data\": [0], \"labels\": [1]}"),
              StatusIs(StatusCode::kInvalidArgument, HasSubstr("the key \"labels\"")));
  EXPECT_THAT(ParseWithFile3("{\"data\": [0, \"x\"]}"),
              StatusIs(StatusCode::kInvalidArgument, HasSubstr("found a string")));
  EXPECT_THAT(ParseWithFile3("[0, 1]"),
              StatusIs(StatusCode::kInvalidArgument, HasSubstr("found an array")));
  EXPECT_THAT(ParseWithFile3("{}"),
              StatusIs(StatusCode::kInvalidArgument, HasSubstr("without the key \"data\"")));
  EXPECT_THAT(ParseWithFile3("{\"data\": [[0]]}"),
              StatusIs(StatusCode::kInvalidArgument, HasSubstr("found an array")));
}

}  // namespace
}  // namespace tw::demo
