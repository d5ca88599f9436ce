#include "demo/corruptions.h"

#include <gtest/gtest.h>

#include <cmath>
#include <numeric>

namespace tw::demo {
namespace {

imaging::Image Grey(int width, int height, uint8_t value = 0) {
  imaging::Image image;
  image.width = width;
  image.height = height;
  image.channels = 1;
  image.pixels.assign(static_cast<size_t>(width) * height, value);
  return image;
}

imaging::Image RandomImage(uint32_t seed) {
  imaging::Image image = Grey(28, 28);
  Rng rng(seed);
  for (uint8_t& p : image.pixels) p = static_cast<uint8_t>(rng.Below(256));
  return image;
}

uint8_t& At(imaging::Image& image, int x, int y) { return image.pixels[y * image.width + x]; }

double Mean(const imaging::Image& image) {
  return std::accumulate(image.pixels.begin(), image.pixels.end(), 0.0) / image.pixels.size();
}

TEST(CorruptionsTest, InvertTwiceIsIdentity) {
  const imaging::Image image = RandomImage(1);
  const imaging::Image inverted = Invert(image);
  EXPECT_EQ(inverted.pixels[0], 255 - image.pixels[0]);
  EXPECT_EQ(Invert(inverted).pixels, image.pixels);
}

TEST(CorruptionsTest, RotationByZeroIsIdentity) {
  const imaging::Image image = RandomImage(2);
  EXPECT_EQ(Rotate(image, 0).pixels, image.pixels);
}

TEST(CorruptionsTest, RotationTurnsCounterClockwiseAboutTheCentre) {
  // A single bright pixel right of the centre (13.5, 13.5) of a 28x28 image.
  imaging::Image image = Grey(28, 28);
  At(image, 20, 13) = 200;
  const imaging::Image turned = Rotate(image, 90);
  // Counter-clockwise on screen: right of the centre goes above it; (20, 13) -> (13, 7).
  imaging::Image expected = Grey(28, 28);
  At(expected, 13, 7) = 200;
  EXPECT_EQ(turned.pixels, expected.pixels);
  // Four quarter turns come back (90 degrees maps pixel centres onto pixel centres).
  EXPECT_EQ(Rotate(Rotate(Rotate(turned, 90), 90), 90).pixels, image.pixels);
}

TEST(CorruptionsTest, RotationFillsUncoveredCornersWithBlack) {
  const imaging::Image turned = Rotate(Grey(28, 28, 255), 45);
  EXPECT_EQ(turned.pixels[0], 0);               // a corner comes from outside
  EXPECT_EQ(turned.pixels[14 * 28 + 14], 255);  // the middle stays
}

TEST(CorruptionsTest, NoiseIsDeterministicBySeed) {
  const imaging::Image image = Grey(28, 28, 128);
  Rng a(7), b(7), c(8);
  const imaging::Image first = AddGaussianNoise(image, 20, a);
  EXPECT_EQ(first.pixels, AddGaussianNoise(image, 20, b).pixels);
  EXPECT_NE(first.pixels, AddGaussianNoise(image, 20, c).pixels);
  // Mean about 128 and standard deviation about 20 over 784 pixels.
  const double mean = Mean(first);
  double var = 0;
  for (uint8_t p : first.pixels) var += (p - mean) * (p - mean);
  EXPECT_NEAR(mean, 128, 3);
  EXPECT_NEAR(std::sqrt(var / first.pixels.size()), 20, 3);
}

TEST(CorruptionsTest, NoiseClampsToPixelRange) {
  Rng rng(1);
  const imaging::Image noisy = AddGaussianNoise(Grey(28, 28, 250), 100, rng);
  int at_max = 0;
  for (uint8_t p : noisy.pixels) at_max += p == 255;
  EXPECT_GT(at_max, 100);  // about half would exceed 255
}

TEST(CorruptionsTest, BlurKeepsAConstantImageAndSpreadsAPoint) {
  EXPECT_EQ(GaussianBlur(Grey(28, 28, 93), 1.5).pixels, Grey(28, 28, 93).pixels);
  imaging::Image point = Grey(28, 28);
  At(point, 14, 14) = 255;
  imaging::Image blurred = GaussianBlur(point, 1.0);
  EXPECT_LT(At(blurred, 14, 14), 255);
  EXPECT_GT(At(blurred, 15, 14), 0);
  EXPECT_EQ(At(blurred, 15, 14), At(blurred, 13, 14));  // symmetric
  EXPECT_EQ(At(blurred, 14, 15), At(blurred, 15, 14));
  EXPECT_NEAR(Mean(blurred), Mean(point), 0.05);  // far from the borders the sum is kept
  EXPECT_EQ(GaussianBlur(point, 0).pixels, point.pixels);
}

TEST(CorruptionsTest, ContrastScalesAboutTheMean) {
  const imaging::Image image = RandomImage(3);
  EXPECT_EQ(ScaleContrast(image, 1).pixels, image.pixels);
  const imaging::Image flat = ScaleContrast(image, 0);
  const uint8_t mean = static_cast<uint8_t>(std::lround(Mean(image)));
  for (uint8_t p : flat.pixels) EXPECT_EQ(p, mean);
}

TEST(CorruptionsTest, PixelateAveragesBlocks) {
  const imaging::Image image = RandomImage(4);
  EXPECT_EQ(Pixelate(image, 1).pixels, image.pixels);
  imaging::Image tiny = Grey(3, 3);
  tiny.pixels = {0, 10, 20, 30, 40, 50, 60, 70, 80};
  // 2x2 cells: {0,10,30,40} -> 20, {20,50} -> 35, {60,70} -> 65, {80} -> 80.
  EXPECT_EQ(Pixelate(tiny, 2).pixels, (std::vector<uint8_t>{20, 20, 35, 20, 20, 35, 65, 65, 80}));
}

TEST(CorruptionsTest, EveryCorruptionAndSeverityKeepsTheShape) {
  const imaging::Image image = RandomImage(5);
  for (const std::string& name : CorruptionNames()) {
    for (int severity = 1; severity <= kSeverities; ++severity) {
      Rng rng(1);
      const imaging::Image out = ApplyCorruption(image, name, severity, rng);
      EXPECT_EQ(out.width, 28) << name << severity;
      EXPECT_EQ(out.pixels.size(), image.pixels.size()) << name << severity;
      EXPECT_NE(out.pixels, image.pixels) << name << severity;
    }
  }
  Rng rng(1);
  EXPECT_TRUE(ApplyCorruption(image, "noise", 0, rng).pixels.empty());
  EXPECT_TRUE(ApplyCorruption(image, "snow", 1, rng).pixels.empty());
}

TEST(CorruptionsTest, ColourImagesAreRefused) {
  imaging::Image rgb = Grey(2, 2);
  rgb.channels = 3;
  rgb.pixels.resize(12);
  EXPECT_TRUE(Invert(rgb).pixels.empty());
  EXPECT_TRUE(Rotate(rgb, 10).pixels.empty());
}

}  // namespace
}  // namespace tw::demo
