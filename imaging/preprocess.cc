#include "imaging/preprocess.h"

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <cstring>
#include <string>

namespace tw::imaging {
namespace {

// Pillow's fixed point for 8-bit resampling: 8 bits of pixel, 2 bits of headroom for weights
// summing above 1 (bicubic's lobes) and the sign.
constexpr int kPrecisionBits = 32 - 8 - 2;
constexpr int32_t kRoundingBias = 1 << (kPrecisionBits - 1);

// ShorterSideSize saturates here; Preprocess refuses such extreme aspect ratios.
constexpr int kMaxSide = 1 << 30;

double BilinearFilter(double x) {
  if (x < 0.0) x = -x;
  if (x < 1.0) return 1.0 - x;
  return 0.0;
}

// Keys' cubic convolution with a = -0.5, written exactly as Pillow evaluates it so the double
// weights, hence their fixed-point roundings, are the same.
double BicubicFilter(double x) {
  constexpr double a = -0.5;
  if (x < 0.0) x = -x;
  if (x < 1.0) return ((a + 2.0) * x - (a + 3.0)) * x * x + 1;
  if (x < 2.0) return (((x - 5) * x + 8) * x - 4) * a;
  return 0.0;
}

// The weights of one resampling axis for output indices [first, first + count).
struct AxisWeights {
  int ksize = 0;
  std::vector<int> start;        // first input index of each output index
  std::vector<int> taps;         // number of input indices used
  std::vector<int32_t> weights;  // ksize per output index, fixed point
};

// Pillow's precompute_coeffs + normalize_coeffs_8bpc for a box covering the whole input,
// restricted to some outputs: each output's weights depend only on its own index.
void ComputeAxisWeights(int in_size, int out_size, Interpolation interpolation, int first,
                        int count, AxisWeights* axis) {
  double (*filter)(double) = BilinearFilter;
  double filter_support = 1.0;
  if (interpolation == Interpolation::kBicubic) {
    filter = BicubicFilter;
    filter_support = 2.0;
  }
  const double scale = static_cast<double>(in_size) / out_size;
  const double filter_scale = std::max(scale, 1.0);  // antialiasing when downscaling
  const double support = filter_support * filter_scale;
  const int ksize = static_cast<int>(std::ceil(support)) * 2 + 1;
  const double inverse_filter_scale = 1.0 / filter_scale;

  axis->ksize = ksize;
  axis->start.resize(count);
  axis->taps.resize(count);
  axis->weights.assign(static_cast<size_t>(count) * ksize, 0);
  std::vector<double> k(ksize);
  for (int i = 0; i < count; ++i) {
    const int xx = first + i;
    const double center = (xx + 0.5) * scale;
    // Truncation toward zero, as Pillow's (int) casts.
    const int xmin = std::max(static_cast<int>(center - support + 0.5), 0);
    const int xmax = std::min(static_cast<int>(center + support + 0.5), in_size) - xmin;
    double sum = 0.0;
    for (int x = 0; x < xmax; ++x) {
      const double w = filter((x + xmin - center + 0.5) * inverse_filter_scale);
      k[x] = w;
      sum += w;
    }
    int32_t* out = &axis->weights[static_cast<size_t>(i) * ksize];
    for (int x = 0; x < xmax; ++x) {
      const double w = sum != 0.0 ? k[x] / sum : k[x];
      out[x] = w < 0 ? static_cast<int32_t>(-0.5 + w * (1 << kPrecisionBits))
                     : static_cast<int32_t>(0.5 + w * (1 << kPrecisionBits));
    }
    axis->start[i] = xmin;
    axis->taps[i] = xmax;
  }
}

inline uint8_t Clip8(int32_t sum) {
  const int32_t v = sum >> kPrecisionBits;  // arithmetic shift, as in Pillow
  return static_cast<uint8_t>(v < 0 ? 0 : (v > 255 ? 255 : v));
}

// One row of the horizontal pass: out[i] for the outputs `axis` describes. Separate scalar
// accumulators per channel (not an array) keep the sums in registers.
void HorizontalRowRgb(const uint8_t* in, const AxisWeights& axis, uint8_t* out) {
  const int count = static_cast<int>(axis.start.size());
  const int32_t* k = axis.weights.data();
  for (int i = 0; i < count; ++i, k += axis.ksize, out += 3) {
    const uint8_t* p = in + axis.start[i] * 3;
    const int taps = axis.taps[i];
    int32_t r = kRoundingBias, g = kRoundingBias, b = kRoundingBias;
    for (int t = 0; t < taps; ++t, p += 3) {
      r += p[0] * k[t];
      g += p[1] * k[t];
      b += p[2] * k[t];
    }
    out[0] = Clip8(r);
    out[1] = Clip8(g);
    out[2] = Clip8(b);
  }
}

void HorizontalRowGrey(const uint8_t* in, const AxisWeights& axis, uint8_t* out) {
  const int count = static_cast<int>(axis.start.size());
  const int32_t* k = axis.weights.data();
  for (int i = 0; i < count; ++i, k += axis.ksize) {
    const uint8_t* p = in + axis.start[i];
    const int taps = axis.taps[i];
    int32_t sum = kRoundingBias;
    for (int t = 0; t < taps; ++t) sum += p[t] * k[t];
    out[i] = Clip8(sum);
  }
}

// One row of the vertical pass: `taps` input rows `stride` apart, `n` interleaved values each.
// The same integer sums as Pillow's pixel-at-a-time loop, but accumulated for a block of values
// at once with a fixed block size, which compilers vectorise even at -O2.
void VerticalRow(const uint8_t* in, size_t stride, const int32_t* k, int taps, size_t n,
                 uint8_t* out) {
  constexpr size_t kBlock = 32;
  size_t i = 0;
  for (; i + kBlock <= n; i += kBlock) {
    int32_t acc[kBlock];
    for (size_t j = 0; j < kBlock; ++j) acc[j] = kRoundingBias;
    for (int t = 0; t < taps; ++t) {
      const uint8_t* row = in + t * stride + i;
      const int32_t w = k[t];
      for (size_t j = 0; j < kBlock; ++j) acc[j] += row[j] * w;
    }
    for (size_t j = 0; j < kBlock; ++j) out[i + j] = Clip8(acc[j]);
  }
  for (; i < n; ++i) {
    int32_t sum = kRoundingBias;
    for (int t = 0; t < taps; ++t) sum += in[t * stride + i] * k[t];
    out[i] = Clip8(sum);
  }
}

// Computes the pixels [x0, x0 + region_width) x [y0, y0 + region_height) of
// Resize(image, out_width, out_height) into `out` (region_width * channels bytes a row).
// Pillow skips the pass of an axis whose size does not change; so do we (its weights would be
// the identity anyway).
void ResizeRegion(const Image& image, int out_width, int out_height, Interpolation interpolation,
                  int x0, int y0, int region_width, int region_height, uint8_t* out) {
  const int channels = image.channels;
  const bool need_horizontal = out_width != image.width;
  const bool need_vertical = out_height != image.height;
  const size_t in_stride = static_cast<size_t>(image.width) * channels;
  const size_t out_stride = static_cast<size_t>(region_width) * channels;

  // Input rows the region needs.
  AxisWeights vertical;
  int row_first = y0;
  int row_count = region_height;
  if (need_vertical) {
    ComputeAxisWeights(image.height, out_height, interpolation, y0, region_height, &vertical);
    row_first = vertical.start.front();
    row_count = vertical.start.back() + vertical.taps.back() - row_first;
  }

  // Horizontal pass into `middle` (or straight into `out` when there is no vertical pass).
  std::vector<uint8_t> buffer;
  const uint8_t* middle =
      image.pixels.data() + row_first * in_stride + static_cast<size_t>(x0) * channels;
  size_t middle_stride = in_stride;
  if (need_horizontal) {
    AxisWeights horizontal;
    ComputeAxisWeights(image.width, out_width, interpolation, x0, region_width, &horizontal);
    uint8_t* target = out;
    if (need_vertical) {
      buffer.resize(out_stride * row_count);
      target = buffer.data();
    }
    for (int r = 0; r < row_count; ++r) {
      const uint8_t* in_row = image.pixels.data() + (row_first + r) * in_stride;
      if (channels == 3) {
        HorizontalRowRgb(in_row, horizontal, target + r * out_stride);
      } else {
        HorizontalRowGrey(in_row, horizontal, target + r * out_stride);
      }
    }
    if (!need_vertical) return;
    middle = buffer.data();
    middle_stride = out_stride;
  } else if (!need_vertical) {
    for (int r = 0; r < region_height; ++r) {
      std::memcpy(out + r * out_stride, middle + r * middle_stride, out_stride);
    }
    return;
  }

  for (int r = 0; r < region_height; ++r) {
    VerticalRow(middle + (vertical.start[r] - row_first) * middle_stride, middle_stride,
                &vertical.weights[static_cast<size_t>(r) * vertical.ksize], vertical.taps[r],
                out_stride, out + r * out_stride);
  }
}

bool WellFormed(const Image& image) {
  return image.width > 0 && image.height > 0 && (image.channels == 1 || image.channels == 3) &&
         image.pixels.size() == static_cast<size_t>(image.width) * image.height * image.channels;
}

// Python's int(round(v / 2.0)) for an integer v: round half to even.
int HalfEvenHalf(int v) { return static_cast<int>(std::nearbyint(v / 2.0)); }

// ToTensor + Normalize of an HWC uint8 block into CHW floats. Per channel a 256-entry table of
// (v / 255 - mean) / std, computed in float in torchvision's order, so the values are the
// reference's own float32 operations.
void Normalize(const uint8_t* pixels, int size, int channels, const PreprocessConfig& config,
               float* out) {
  float table[3][256];
  for (int c = 0; c < channels; ++c) {
    for (int v = 0; v < 256; ++v) {
      table[c][v] = (static_cast<float>(v) / 255.0f - config.mean[c]) / config.std[c];
    }
  }
  const size_t plane = static_cast<size_t>(size) * size;
  if (channels == 1) {
    for (size_t i = 0; i < plane; ++i) out[i] = table[0][pixels[i]];
    return;
  }
  float* r = out;
  float* g = out + plane;
  float* b = out + 2 * plane;
  for (size_t i = 0; i < plane; ++i) {
    r[i] = table[0][pixels[3 * i]];
    g[i] = table[1][pixels[3 * i + 1]];
    b[i] = table[2][pixels[3 * i + 2]];
  }
}

}  // namespace

StatusOr<Interpolation> ParseInterpolation(std::string_view name) {
  if (name == "bilinear") return Interpolation::kBilinear;
  if (name == "bicubic") return Interpolation::kBicubic;
  return InvalidArgumentError("unknown interpolation '" + std::string(name) +
                              "' (expected bilinear or bicubic)");
}

std::string_view InterpolationName(Interpolation interpolation) {
  return interpolation == Interpolation::kBicubic ? "bicubic" : "bilinear";
}

Image Resize(const Image& image, int width, int height, Interpolation interpolation) {
  Image result;
  if (width < 1 || height < 1 || !WellFormed(image)) return result;
  result.width = width;
  result.height = height;
  result.channels = image.channels;
  result.pixels.resize(static_cast<size_t>(width) * height * image.channels);
  ResizeRegion(image, width, height, interpolation, 0, 0, width, height, result.pixels.data());
  return result;
}

std::pair<int, int> ShorterSideSize(int width, int height, int size) {
  const bool width_shorter = width <= height;
  const int64_t shorter = width_shorter ? width : height;
  const int64_t longer = width_shorter ? height : width;
  // Python's int(size * long / short): exact product, correctly rounded division, truncation.
  const double exact = static_cast<double>(size * longer) / static_cast<double>(shorter);
  const int new_longer = exact >= kMaxSide ? kMaxSide : static_cast<int>(exact);
  return width_shorter ? std::make_pair(size, new_longer) : std::make_pair(new_longer, size);
}

Image ResizeShorterSide(const Image& image, int size, Interpolation interpolation) {
  const auto [width, height] = ShorterSideSize(image.width, image.height, size);
  return Resize(image, width, height, interpolation);
}

Image CenterCrop(const Image& image, int crop_height, int crop_width) {
  Image result;
  if (crop_height < 1 || crop_width < 1 || !WellFormed(image)) return result;
  // Where the image's (0, 0) lands in the crop: torchvision pads first (offset d // 2), then
  // crops at round-half-even((padded - crop) / 2) of the padded image.
  auto origin = [](int image_size, int crop_size) {
    if (crop_size > image_size) return (crop_size - image_size) / 2;
    return -HalfEvenHalf(image_size - crop_size);
  };
  const int dx = origin(image.width, crop_width);
  const int dy = origin(image.height, crop_height);
  const int channels = image.channels;
  result.width = crop_width;
  result.height = crop_height;
  result.channels = channels;
  result.pixels.assign(static_cast<size_t>(crop_width) * crop_height * channels, 0);
  const int x_first = std::max(0, dx);
  const int x_end = std::min(crop_width, dx + image.width);
  for (int y = std::max(0, dy); y < std::min(crop_height, dy + image.height); ++y) {
    std::memcpy(
        &result.pixels[(static_cast<size_t>(y) * crop_width + x_first) * channels],
        &image.pixels[(static_cast<size_t>(y - dy) * image.width + (x_first - dx)) * channels],
        static_cast<size_t>(x_end - x_first) * channels);
  }
  return result;
}

Status ValidatePreprocessConfig(const PreprocessConfig& config) {
  if (config.img_size < 1 || config.img_size > 4096) {
    return InvalidArgumentError("preprocess: img_size must be in 1..4096, not " +
                                std::to_string(config.img_size));
  }
  if (!(config.crop_pct > 0.0 && config.crop_pct <= 2.0)) {  // also refuses NaN
    return InvalidArgumentError("preprocess: crop_pct must be in (0, 2], not " +
                                std::to_string(config.crop_pct));
  }
  if (config.channels != 1 && config.channels != 3) {
    return InvalidArgumentError("preprocess: channels must be 1 or 3, not " +
                                std::to_string(config.channels));
  }
  const size_t channels = static_cast<size_t>(config.channels);
  if (config.mean.size() != channels || config.std.size() != channels) {
    return InvalidArgumentError("preprocess: mean and std need " + std::to_string(channels) +
                                " values each (one per channel), got " +
                                std::to_string(config.mean.size()) + " and " +
                                std::to_string(config.std.size()));
  }
  for (size_t c = 0; c < channels; ++c) {
    if (!std::isfinite(config.mean[c])) {
      return InvalidArgumentError("preprocess: mean[" + std::to_string(c) + "] is not finite");
    }
    if (!(config.std[c] > 0.0f) || !std::isfinite(config.std[c])) {
      return InvalidArgumentError("preprocess: std[" + std::to_string(c) +
                                  "] must be a finite number > 0, not " +
                                  std::to_string(config.std[c]));
    }
  }
  return OkStatus();
}

int ScaleSize(const PreprocessConfig& config) {
  return static_cast<int>(std::floor(config.img_size / config.crop_pct));
}

Status Preprocess(const Image& image, const PreprocessConfig& config, float* out) {
  TW_RETURN_IF_ERROR(ValidatePreprocessConfig(config));
  if (!WellFormed(image)) {
    return InvalidArgumentError("preprocess: malformed image (" + std::to_string(image.width) +
                                "x" + std::to_string(image.height) + "x" +
                                std::to_string(image.channels) + ", " +
                                std::to_string(image.pixels.size()) + " bytes)");
  }
  if (image.channels != config.channels) {
    return InvalidArgumentError("preprocess: the image has " + std::to_string(image.channels) +
                                " channels but the config expects " +
                                std::to_string(config.channels));
  }
  const int size = config.img_size;
  if (!config.resize_and_crop) {
    if (image.width != size || image.height != size) {
      return InvalidArgumentError("preprocess: without resize_and_crop the image must be " +
                                  std::to_string(size) + "x" + std::to_string(size) + ", not " +
                                  std::to_string(image.width) + "x" + std::to_string(image.height));
    }
    Normalize(image.pixels.data(), size, image.channels, config, out);
    return OkStatus();
  }

  const int scale_size = ScaleSize(config);
  if (scale_size < 1) {
    return InvalidArgumentError("preprocess: img_size / crop_pct rounds down to 0");
  }
  const auto [width, height] = ShorterSideSize(image.width, image.height, scale_size);
  if (width >= kMaxSide || height >= kMaxSide) {
    return InvalidArgumentError(
        "preprocess: a " + std::to_string(image.width) + "x" + std::to_string(image.height) +
        " image is too elongated to resize its shorter side to " + std::to_string(scale_size));
  }
  if (width < size || height < size) {
    // The crop pads (crop_pct > 1): rare, so the plain way.
    const Image cropped =
        CenterCrop(Resize(image, width, height, config.interpolation), size, size);
    Normalize(cropped.pixels.data(), size, image.channels, config, out);
    return OkStatus();
  }
  // Resize only the crop's pixels: every output pixel of each separable pass depends on its own
  // index alone, so this equals resizing everything and then cropping.
  thread_local std::vector<uint8_t> crop;
  crop.resize(static_cast<size_t>(size) * size * image.channels);
  ResizeRegion(image, width, height, config.interpolation, HalfEvenHalf(width - size),
               HalfEvenHalf(height - size), size, size, crop.data());
  Normalize(crop.data(), size, image.channels, config, out);
  return OkStatus();
}

}  // namespace tw::imaging
