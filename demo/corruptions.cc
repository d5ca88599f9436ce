#include "demo/corruptions.h"

#include <algorithm>
#include <cmath>

namespace tw::demo {

namespace {

uint8_t ToPixel(double value) {
  return static_cast<uint8_t>(std::clamp(std::lround(value), 0L, 255L));
}

imaging::Image SameShape(const imaging::Image& image) {
  imaging::Image out;
  if (image.channels != 1) return out;
  out.width = image.width;
  out.height = image.height;
  out.channels = 1;
  out.pixels.resize(image.pixels.size());
  return out;
}

double Mean(const imaging::Image& image) {
  if (image.pixels.empty()) return 0;
  double sum = 0;
  for (uint8_t p : image.pixels) sum += p;
  return sum / static_cast<double>(image.pixels.size());
}

// The suite's parameters per severity 1..3. Chosen by eye on MNIST digits: severity 1 is a
// shift a person barely notices, 3 one that is obvious but leaves the digit readable.
constexpr double kNoiseSigma[kSeverities] = {40, 70, 100};
constexpr double kBlurSigma[kSeverities] = {0.8, 1.2, 1.6};
constexpr double kRotateDegrees[kSeverities] = {15, 30, 45};
constexpr double kContrastFactor[kSeverities] = {0.5, 0.3, 0.15};
constexpr int kPixelateBlock[kSeverities] = {2, 3, 4};

}  // namespace

imaging::Image Invert(const imaging::Image& image) {
  imaging::Image out = SameShape(image);
  for (size_t i = 0; i < out.pixels.size(); ++i) out.pixels[i] = 255 - image.pixels[i];
  return out;
}

imaging::Image Rotate(const imaging::Image& image, double degrees) {
  imaging::Image out = SameShape(image);
  if (out.pixels.empty()) return out;
  const double radians = degrees * (3.14159265358979323846 / 180.0);
  // Exact for 0 (cos 0 == 1, sin 0 == 0), so rotation by 0 samples every pixel at itself.
  const double c = std::cos(radians);
  const double s = std::sin(radians);
  const double cx = (image.width - 1) / 2.0;
  const double cy = (image.height - 1) / 2.0;
  auto at = [&](int x, int y) -> double {
    if (x < 0 || y < 0 || x >= image.width || y >= image.height) return 0;
    return image.pixels[static_cast<size_t>(y) * image.width + x];
  };
  for (int y = 0; y < image.height; ++y) {
    for (int x = 0; x < image.width; ++x) {
      // Inverse mapping: the source point that lands on (x, y). Image rows grow downwards, so a
      // counter-clockwise turn on screen is a clockwise one in these coordinates.
      const double dx = x - cx;
      const double dy = y - cy;
      const double sx = c * dx - s * dy + cx;
      const double sy = s * dx + c * dy + cy;
      const double fx = std::floor(sx);
      const double fy = std::floor(sy);
      const double wx = sx - fx;
      const double wy = sy - fy;
      const int x0 = static_cast<int>(fx);
      const int y0 = static_cast<int>(fy);
      const double value = (1 - wy) * ((1 - wx) * at(x0, y0) + wx * at(x0 + 1, y0)) +
                           wy * ((1 - wx) * at(x0, y0 + 1) + wx * at(x0 + 1, y0 + 1));
      out.pixels[static_cast<size_t>(y) * image.width + x] = ToPixel(value);
    }
  }
  return out;
}

imaging::Image AddGaussianNoise(const imaging::Image& image, double sigma, Rng& rng) {
  imaging::Image out = SameShape(image);
  for (size_t i = 0; i < out.pixels.size(); ++i) {
    out.pixels[i] = ToPixel(image.pixels[i] + sigma * rng.Normal());
  }
  return out;
}

imaging::Image GaussianBlur(const imaging::Image& image, double sigma) {
  imaging::Image out = SameShape(image);
  if (out.pixels.empty()) return out;
  if (!(sigma > 0)) return image;
  const int radius = static_cast<int>(std::ceil(3 * sigma));
  std::vector<double> kernel(2 * radius + 1);
  double total = 0;
  for (int k = -radius; k <= radius; ++k) {
    kernel[k + radius] = std::exp(-(k * k) / (2 * sigma * sigma));
    total += kernel[k + radius];
  }
  for (double& weight : kernel) weight /= total;
  const int w = image.width;
  const int h = image.height;
  // Horizontal pass in doubles, then the vertical pass rounds once.
  std::vector<double> rows(static_cast<size_t>(w) * h);
  for (int y = 0; y < h; ++y) {
    for (int x = 0; x < w; ++x) {
      double sum = 0;
      for (int k = -radius; k <= radius; ++k) {
        const int sx = std::clamp(x + k, 0, w - 1);
        sum += kernel[k + radius] * image.pixels[static_cast<size_t>(y) * w + sx];
      }
      rows[static_cast<size_t>(y) * w + x] = sum;
    }
  }
  for (int y = 0; y < h; ++y) {
    for (int x = 0; x < w; ++x) {
      double sum = 0;
      for (int k = -radius; k <= radius; ++k) {
        const int sy = std::clamp(y + k, 0, h - 1);
        sum += kernel[k + radius] * rows[static_cast<size_t>(sy) * w + x];
      }
      out.pixels[static_cast<size_t>(y) * w + x] = ToPixel(sum);
    }
  }
  return out;
}

imaging::Image ScaleContrast(const imaging::Image& image, double factor) {
  imaging::Image out = SameShape(image);
  const double mean = Mean(image);
  for (size_t i = 0; i < out.pixels.size(); ++i) {
    out.pixels[i] = ToPixel(mean + (image.pixels[i] - mean) * factor);
  }
  return out;
}

imaging::Image Pixelate(const imaging::Image& image, int block) {
  imaging::Image out = SameShape(image);
  if (out.pixels.empty()) return out;
  if (block <= 1) return image;
  const int w = image.width;
  const int h = image.height;
  for (int by = 0; by < h; by += block) {
    for (int bx = 0; bx < w; bx += block) {
      const int ey = std::min(by + block, h);
      const int ex = std::min(bx + block, w);
      double sum = 0;
      for (int y = by; y < ey; ++y) {
        for (int x = bx; x < ex; ++x) sum += image.pixels[static_cast<size_t>(y) * w + x];
      }
      const uint8_t mean = ToPixel(sum / ((ey - by) * (ex - bx)));
      for (int y = by; y < ey; ++y) {
        for (int x = bx; x < ex; ++x) out.pixels[static_cast<size_t>(y) * w + x] = mean;
      }
    }
  }
  return out;
}

const std::vector<std::string>& CorruptionNames() {
  static const std::vector<std::string> names = {"noise", "blur", "rotate", "contrast", "pixelate"};
  return names;
}

imaging::Image ApplyCorruption(const imaging::Image& image, std::string_view name, int severity,
                               Rng& rng) {
  if (severity < 1 || severity > kSeverities) return {};
  const int i = severity - 1;
  if (name == "noise") return AddGaussianNoise(image, kNoiseSigma[i], rng);
  if (name == "blur") return GaussianBlur(image, kBlurSigma[i]);
  if (name == "rotate") {
    const double sign = rng.Below(2) == 0 ? -1.0 : 1.0;
    return Rotate(image, sign * kRotateDegrees[i]);
  }
  if (name == "contrast") return ScaleContrast(image, kContrastFactor[i]);
  if (name == "pixelate") return Pixelate(image, kPixelateBlock[i]);
  return {};
}

}  // namespace tw::demo
