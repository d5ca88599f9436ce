#include "demo/png_writer.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include "imaging/image.h"
#include "tests/testing/status_matchers.h"

namespace tw::demo {
namespace {

using ::testing::HasSubstr;
using ::tw::testing::StatusIs;

imaging::Image Pattern(int width, int height, int channels) {
  imaging::Image image;
  image.width = width;
  image.height = height;
  image.channels = channels;
  image.pixels.resize(static_cast<size_t>(width) * height * channels);
  for (size_t i = 0; i < image.pixels.size(); ++i) image.pixels[i] = (i * 37 + 11) % 256;
  return image;
}

TEST(PngWriterTest, GreyAndRgbRoundTripThroughTheDecoder) {
  for (int channels : {1, 3}) {
    const imaging::Image image = Pattern(28, 17, channels);
    TW_ASSERT_OK_AND_ASSIGN(std::string png, EncodePng(image));
    EXPECT_EQ(png.substr(1, 3), "PNG");
    imaging::DecodeOptions options;
    options.channels = channels;
    TW_ASSERT_OK_AND_ASSIGN(imaging::Image decoded, imaging::DecodeImage(png, options, "t.png"));
    EXPECT_EQ(decoded.width, 28);
    EXPECT_EQ(decoded.height, 17);
    EXPECT_EQ(decoded.pixels, image.pixels) << channels << " channels";
  }
}

TEST(PngWriterTest, SameImageGivesSameBytes) {
  const imaging::Image image = Pattern(28, 28, 1);
  TW_ASSERT_OK_AND_ASSIGN(std::string first, EncodePng(image));
  TW_ASSERT_OK_AND_ASSIGN(std::string second, EncodePng(image));
  EXPECT_EQ(first, second);
}

TEST(PngWriterTest, RefusesMalformedImages) {
  imaging::Image two = Pattern(4, 4, 1);
  two.channels = 2;
  EXPECT_THAT(EncodePng(two), StatusIs(StatusCode::kInvalidArgument, HasSubstr("2 channels")));
  imaging::Image short_pixels = Pattern(4, 4, 1);
  short_pixels.pixels.pop_back();
  EXPECT_THAT(EncodePng(short_pixels),
              StatusIs(StatusCode::kInvalidArgument, HasSubstr("4x4 image has 15 bytes")));
  EXPECT_THAT(EncodePng(imaging::Image{}),
              StatusIs(StatusCode::kInvalidArgument, HasSubstr("0 channels")));
}

}  // namespace
}  // namespace tw::demo
