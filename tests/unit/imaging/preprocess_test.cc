// Hermetic tests of imaging/preprocess.h. Bit-exactness against Pillow itself is checked by
// tests/integration/imaging_parity_test.cc; here: known values, identities, rounding, padding,
// and that computing only the crop equals resizing everything then cropping.
#include "imaging/preprocess.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <utility>
#include <vector>

#include "tests/testing/status_matchers.h"

namespace tw::imaging {
namespace {

using ::testing::ElementsAre;
using ::testing::HasSubstr;
using ::tw::testing::StatusIs;

Image MakeImage(int width, int height, int channels, uint32_t seed) {
  Image image;
  image.width = width;
  image.height = height;
  image.channels = channels;
  image.pixels.resize(static_cast<size_t>(width) * height * channels);
  for (auto& v : image.pixels) {
    seed = seed * 1664525u + 1013904223u;
    v = static_cast<uint8_t>(seed >> 24);
  }
  return image;
}

Image Constant(int width, int height, int channels, uint8_t value) {
  Image image = MakeImage(width, height, channels, 0);
  std::fill(image.pixels.begin(), image.pixels.end(), value);
  return image;
}

// An image whose pixel (x, y) is x + 10 * y (grey), to see where crops come from.
Image Coordinates(int width, int height) {
  Image image = MakeImage(width, height, 1, 0);
  for (int y = 0; y < height; ++y) {
    for (int x = 0; x < width; ++x) image.pixels[y * width + x] = static_cast<uint8_t>(x + 10 * y);
  }
  return image;
}

constexpr Interpolation kBoth[] = {Interpolation::kBilinear, Interpolation::kBicubic};

TEST(InterpolationTest, ParsesTimmNames) {
  TW_ASSERT_OK_AND_ASSIGN(Interpolation bilinear, ParseInterpolation("bilinear"));
  EXPECT_EQ(bilinear, Interpolation::kBilinear);
  TW_ASSERT_OK_AND_ASSIGN(Interpolation bicubic, ParseInterpolation("bicubic"));
  EXPECT_EQ(bicubic, Interpolation::kBicubic);
  EXPECT_EQ(InterpolationName(Interpolation::kBicubic), "bicubic");
  EXPECT_EQ(InterpolationName(Interpolation::kBilinear), "bilinear");
  EXPECT_THAT(ParseInterpolation("lanczos"),
              StatusIs(StatusCode::kInvalidArgument, HasSubstr("lanczos")));
}

TEST(ResizeTest, SameSizeIsACopy) {
  const Image image = MakeImage(9, 7, 3, 1);
  for (Interpolation interpolation : kBoth) {
    const Image resized = Resize(image, 9, 7, interpolation);
    EXPECT_EQ(resized.width, 9);
    EXPECT_EQ(resized.height, 7);
    EXPECT_EQ(resized.pixels, image.pixels);
  }
}

TEST(ResizeTest, ConstantImageStaysConstant) {
  for (uint8_t value : {0, 1, 128, 254, 255}) {
    for (int channels : {1, 3}) {
      const Image image = Constant(37, 23, channels, value);
      for (Interpolation interpolation : kBoth) {
        for (auto [w, h] : {std::pair{5, 3}, {80, 50}, {37, 9}, {1, 1}, {200, 23}}) {
          const Image resized = Resize(image, w, h, interpolation);
          ASSERT_EQ(resized.pixels.size(), static_cast<size_t>(w) * h * channels);
          EXPECT_THAT(resized.pixels, ::testing::Each(value))
              << w << "x" << h << " from 37x23 value " << int{value};
        }
      }
    }
  }
}

TEST(ResizeTest, KnownValues) {
  Image two;
  two.width = 2;
  two.height = 1;
  two.channels = 1;
  two.pixels = {0, 255};
  // Halving: weights 0.5, 0.5; 127.5 rounds up in Pillow's fixed point.
  EXPECT_THAT(Resize(two, 1, 1, Interpolation::kBilinear).pixels, ElementsAre(128));
  EXPECT_THAT(Resize(two, 1, 1, Interpolation::kBicubic).pixels, ElementsAre(128));
  // Doubling with the triangle filter: centres at 0.25 and 0.75 of each input pixel.
  EXPECT_THAT(Resize(two, 4, 1, Interpolation::kBilinear).pixels, ElementsAre(0, 64, 191, 255));
  // Bicubic overshoot is clipped to 0..255 rather than wrapping.
  Image step;
  step.width = 6;
  step.height = 1;
  step.channels = 1;
  step.pixels = {0, 0, 0, 255, 255, 255};
  const Image up = Resize(step, 24, 1, Interpolation::kBicubic);
  EXPECT_THAT(up.pixels, ::testing::Contains(0));
  EXPECT_THAT(up.pixels, ::testing::Contains(255));
}

TEST(ResizeTest, InvalidArgumentsGiveAnEmptyImage) {
  EXPECT_TRUE(Resize(MakeImage(4, 4, 3, 2), 0, 4, Interpolation::kBilinear).pixels.empty());
  EXPECT_TRUE(Resize(Image(), 4, 4, Interpolation::kBilinear).pixels.empty());
}

TEST(ResizeTest, ShorterSideFollowsTorchvision) {
  EXPECT_EQ(ShorterSideSize(500, 375, 256), std::make_pair(341, 256));
  EXPECT_EQ(ShorterSideSize(375, 500, 256), std::make_pair(256, 341));
  EXPECT_EQ(ShorterSideSize(333, 500, 256), std::make_pair(256, 384));  // int(384.38)
  EXPECT_EQ(ShorterSideSize(300, 300, 256), std::make_pair(256, 256));
  EXPECT_EQ(ShorterSideSize(17, 23, 256), std::make_pair(256, 346));  // int(346.35)
  const Image resized = ResizeShorterSide(MakeImage(50, 20, 3, 3), 10, Interpolation::kBicubic);
  EXPECT_EQ(resized.width, 25);
  EXPECT_EQ(resized.height, 10);
}

TEST(CenterCropTest, OffsetsRoundHalfToEven) {
  // (10 - 7) / 2 = 1.5 -> 2; (12 - 7) / 2 = 2.5 -> 2; (11 - 4) / 2 = 3.5 -> 4.
  EXPECT_EQ(CenterCrop(Coordinates(10, 1), 1, 7).pixels.front(), 2);
  EXPECT_EQ(CenterCrop(Coordinates(12, 1), 1, 7).pixels.front(), 2);
  EXPECT_EQ(CenterCrop(Coordinates(11, 1), 1, 4).pixels.front(), 4);
  EXPECT_EQ(CenterCrop(Coordinates(9, 1), 1, 4).pixels.front(), 2);  // 2.5 -> 2
  // Vertically too: (8 - 3) / 2 = 2.5 -> 2, so row 2 (value 20) comes first.
  const Image cropped = CenterCrop(Coordinates(3, 8), 3, 3);
  EXPECT_THAT(cropped.pixels, ElementsAre(20, 21, 22, 30, 31, 32, 40, 41, 42));
}

TEST(CenterCropTest, PadsWithZerosLikeTorchvision) {
  // 2x2 into 5x4: left (5 - 2) // 2 = 1, right 2; top (4 - 2) // 2 = 1, bottom 1.
  Image image = Constant(2, 2, 1, 9);
  const Image padded = CenterCrop(image, 4, 5);
  EXPECT_EQ(padded.width, 5);
  EXPECT_EQ(padded.height, 4);
  EXPECT_THAT(padded.pixels, ElementsAre(0, 0, 0, 0, 0,  //
                                         0, 9, 9, 0, 0,  //
                                         0, 9, 9, 0, 0,  //
                                         0, 0, 0, 0, 0));
  // Padded in one dimension, cropped in the other: 2 wide -> 4 (pad 1, 1); 7 high -> 3 at
  // round(2.0) = 2.
  const Image mixed = CenterCrop(Coordinates(2, 7), 3, 4);
  EXPECT_THAT(mixed.pixels, ElementsAre(0, 20, 21, 0, 0, 30, 31, 0, 0, 40, 41, 0));
}

TEST(CenterCropTest, KeepsChannelsTogether) {
  const Image image = MakeImage(6, 5, 3, 4);
  const Image cropped = CenterCrop(image, 3, 2);  // top round(1.0) = 1, left round(2.0) = 2
  ASSERT_EQ(cropped.pixels.size(), 2u * 3u * 3u);
  for (int y = 0; y < 3; ++y) {
    for (int x = 0; x < 2; ++x) {
      for (int c = 0; c < 3; ++c) {
        EXPECT_EQ(cropped.pixels[(y * 2 + x) * 3 + c], image.pixels[((y + 1) * 6 + x + 2) * 3 + c]);
      }
    }
  }
}

TEST(PreprocessConfigTest, Validation) {
  TW_EXPECT_OK(ValidatePreprocessConfig(PreprocessConfig()));
  auto invalid = [](auto mutate, const char* field) {
    PreprocessConfig config;
    mutate(config);
    EXPECT_THAT(ValidatePreprocessConfig(config),
                StatusIs(StatusCode::kInvalidArgument, HasSubstr(field)));
  };
  invalid([](PreprocessConfig& c) { c.img_size = 0; }, "img_size");
  invalid([](PreprocessConfig& c) { c.img_size = 4097; }, "img_size");
  invalid([](PreprocessConfig& c) { c.crop_pct = 0; }, "crop_pct");
  invalid([](PreprocessConfig& c) { c.crop_pct = 2.01; }, "crop_pct");
  invalid([](PreprocessConfig& c) { c.crop_pct = std::nan(""); }, "crop_pct");
  invalid([](PreprocessConfig& c) { c.channels = 2; }, "channels");
  invalid([](PreprocessConfig& c) { c.mean = {0.5f}; }, "mean and std");
  invalid([](PreprocessConfig& c) { c.channels = 1; }, "mean and std");
  invalid([](PreprocessConfig& c) { c.std[1] = 0; }, "std[1]");
  invalid([](PreprocessConfig& c) { c.std[2] = -1; }, "std[2]");
  invalid([](PreprocessConfig& c) { c.mean[0] = INFINITY; }, "mean[0]");
  PreprocessConfig edge;
  edge.img_size = 4096;
  edge.crop_pct = 2.0;
  TW_EXPECT_OK(ValidatePreprocessConfig(edge));
  PreprocessConfig timm;
  EXPECT_EQ(ScaleSize(timm), 256);  // floor(224 / 0.875)
  timm.crop_pct = 0.9;
  EXPECT_EQ(ScaleSize(timm), 248);  // floor(248.9)
}

TEST(PreprocessTest, NormalisesLikeToTensorAndNormalize) {
  Image image = Constant(2, 2, 3, 0);
  for (int i = 0; i < 4; ++i) {
    image.pixels[3 * i] = 255;
    image.pixels[3 * i + 1] = 0;
    image.pixels[3 * i + 2] = 128;
  }
  PreprocessConfig config;
  config.img_size = 2;
  config.crop_pct = 1.0;
  std::vector<float> out(12);
  TW_ASSERT_OK(Preprocess(image, config, out.data()));
  for (int i = 0; i < 4; ++i) {
    EXPECT_FLOAT_EQ(out[i], (1.0f - 0.485f) / 0.229f);              // R plane
    EXPECT_FLOAT_EQ(out[4 + i], (0.0f - 0.456f) / 0.224f);          // G plane
    EXPECT_FLOAT_EQ(out[8 + i], (128 / 255.0f - 0.406f) / 0.225f);  // B plane
  }
  EXPECT_NEAR(out[0], 2.2489, 1e-4);
  EXPECT_NEAR(out[4], -2.0357, 1e-4);
}

TEST(PreprocessTest, WritesChwPlanes) {
  const Image image = MakeImage(3, 3, 3, 5);
  PreprocessConfig config;
  config.img_size = 3;
  config.resize_and_crop = false;
  config.mean = {0, 0, 0};
  config.std = {1, 1, 1};
  std::vector<float> out(27);
  TW_ASSERT_OK(Preprocess(image, config, out.data()));
  for (int c = 0; c < 3; ++c) {
    for (int i = 0; i < 9; ++i) EXPECT_FLOAT_EQ(out[c * 9 + i], image.pixels[3 * i + c] / 255.0f);
  }
}

TEST(PreprocessTest, GreyConfig) {
  const Image image = Constant(4, 4, 1, 51);
  PreprocessConfig config;
  config.channels = 1;
  config.mean = {0.5f};
  config.std = {0.5f};
  config.img_size = 2;
  std::vector<float> out(4);
  TW_ASSERT_OK(Preprocess(image, config, out.data()));
  EXPECT_THAT(out, ::testing::Each(::testing::FloatEq((0.2f - 0.5f) / 0.5f)));
}

// The optimisation: only the crop's pixels are resized. They must equal the full resize then
// crop, for both interpolations, up and down, odd and even margins, grey and colour.
TEST(PreprocessTest, CropOnlyResizeEqualsResizeThenCrop) {
  struct Case {
    int width, height, img_size;
    double crop_pct;
  };
  const Case cases[] = {{500, 375, 224, 0.875}, {375, 500, 224, 0.875}, {333, 500, 224, 0.9},
                        {640, 480, 32, 0.875},  {17, 23, 16, 0.875},    {31, 200, 24, 0.95},
                        {256, 256, 224, 0.875}, {100, 41, 40, 1.0},     {45, 45, 45, 1.0}};
  for (const Case& c : cases) {
    for (int channels : {1, 3}) {
      for (Interpolation interpolation : kBoth) {
        const Image image = MakeImage(c.width, c.height, channels, c.width * 7 + c.height);
        PreprocessConfig config;
        config.img_size = c.img_size;
        config.crop_pct = c.crop_pct;
        config.interpolation = interpolation;
        config.channels = channels;
        config.mean.resize(channels, 0.0f);
        config.std.resize(channels, 1.0f);
        const size_t plane = static_cast<size_t>(c.img_size) * c.img_size;
        std::vector<float> fast(plane * channels);
        TW_ASSERT_OK(Preprocess(image, config, fast.data()));
        const Image full = ResizeShorterSide(image, ScaleSize(config), interpolation);
        const Image cropped = CenterCrop(full, c.img_size, c.img_size);
        std::vector<float> slow(plane * channels);
        for (size_t i = 0; i < plane; ++i) {
          for (int ch = 0; ch < channels; ++ch) {
            slow[ch * plane + i] =
                (cropped.pixels[i * channels + ch] / 255.0f - config.mean[ch]) / config.std[ch];
          }
        }
        EXPECT_EQ(fast, slow) << c.width << "x" << c.height << " -> " << c.img_size << " channels "
                              << channels << " " << InterpolationName(interpolation);
      }
    }
  }
}

TEST(PreprocessTest, CropPctAboveOnePadsWithZeros) {
  // scale_size floor(8 / 1.25) = 6 < 8: the resized 6x6 is padded by 1 on each side.
  PreprocessConfig config;
  config.img_size = 8;
  config.crop_pct = 1.25;
  config.mean = {0, 0, 0};
  config.std = {1, 1, 1};
  std::vector<float> out(3 * 64);
  TW_ASSERT_OK(Preprocess(Constant(10, 10, 3, 255), config, out.data()));
  for (int y = 0; y < 8; ++y) {
    for (int x = 0; x < 8; ++x) {
      const bool inside = x >= 1 && x <= 6 && y >= 1 && y <= 6;
      EXPECT_FLOAT_EQ(out[2 * 64 + y * 8 + x], inside ? 1.0f : 0.0f) << x << "," << y;
    }
  }
}

TEST(PreprocessTest, RefusesAspectRatiosThatOverflowTheResize) {
  EXPECT_EQ(ShorterSideSize(1, 5000000, 256), std::make_pair(256, 1 << 30));  // saturated
  PreprocessConfig config;
  config.channels = 1;
  config.mean = {0.5f};
  config.std = {0.5f};
  std::vector<float> out(224 * 224);
  EXPECT_THAT(Preprocess(Constant(1, 5000000, 1, 7), config, out.data()),
              StatusIs(StatusCode::kInvalidArgument, HasSubstr("1x5000000")));
}

TEST(PreprocessTest, Errors) {
  PreprocessConfig config;
  std::vector<float> out(3 * 224 * 224);
  config.img_size = 0;
  EXPECT_THAT(Preprocess(MakeImage(4, 4, 3, 6), config, out.data()),
              StatusIs(StatusCode::kInvalidArgument, HasSubstr("img_size")));
  config = PreprocessConfig();
  EXPECT_THAT(Preprocess(MakeImage(4, 4, 1, 6), config, out.data()),
              StatusIs(StatusCode::kInvalidArgument, HasSubstr("1 channels")));
  Image broken = MakeImage(4, 4, 3, 6);
  broken.pixels.pop_back();
  EXPECT_THAT(Preprocess(broken, config, out.data()),
              StatusIs(StatusCode::kInvalidArgument, HasSubstr("malformed")));
  config.resize_and_crop = false;
  EXPECT_THAT(Preprocess(MakeImage(225, 224, 3, 6), config, out.data()),
              StatusIs(StatusCode::kInvalidArgument, HasSubstr("must be 224x224, not 225x224")));
  TW_EXPECT_OK(Preprocess(MakeImage(224, 224, 3, 6), config, out.data()));
}

}  // namespace
}  // namespace tw::imaging
