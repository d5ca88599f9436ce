// Resizing, cropping and normalising decoded images into model input, reproducing Pillow 9.4's
// Image.resize and torchvision 0.14's Resize / CenterCrop / ToTensor / Normalize, i.e. timm's
// eval transform, so that our accuracy numbers are the ones validate.py would report.
//
// Thread safety: all functions may be called concurrently; they share no state.
#pragma once

#include <string_view>
#include <utility>
#include <vector>

#include "common/status.h"
#include "imaging/image.h"

namespace tw::imaging {

enum class Interpolation { kBilinear, kBicubic };

// "bilinear" or "bicubic" (timm's names); anything else is InvalidArgument.
StatusOr<Interpolation> ParseInterpolation(std::string_view name);
// The inverse of ParseInterpolation.
std::string_view InterpolationName(Interpolation interpolation);

// Pillow's Image.resize(size, BILINEAR | BICUBIC) on an 8-bit image, bit-exact: antialiased
// (the filter support grows with the downscale factor), separable, horizontal pass first, each
// pass rounding to uint8 with Pillow's 22-bit fixed-point weights. The same size gives a copy.
// width and height must be >= 1 and `image` non-empty; otherwise the result is an empty Image.
Image Resize(const Image& image, int width, int height, Interpolation interpolation);

// torchvision's Resize(size) output size for a width x height image: the shorter side becomes
// `size`, the longer int(size * long / short), saturated at 2^30. Returns {width, height}.
std::pair<int, int> ShorterSideSize(int width, int height, int size);

// torchvision's Resize(size) on a PIL image: Resize to ShorterSideSize(...).
Image ResizeShorterSide(const Image& image, int size, Interpolation interpolation);

// torchvision's CenterCrop((crop_height, crop_width)): offset int(round((h - crop_h) / 2.0))
// with Python's round-half-even; a dimension smaller than the crop is first padded with zeros,
// (d // 2) before and ((d + 1) // 2) after. Crop sizes must be >= 1 (else an empty Image).
Image CenterCrop(const Image& image, int crop_height, int crop_width);

struct PreprocessConfig {
  int img_size = 224;
  double crop_pct = 0.875;  // timm: the image is resized to floor(img_size / crop_pct) first
  Interpolation interpolation = Interpolation::kBicubic;
  std::vector<float> mean = {0.485f, 0.456f, 0.406f};
  std::vector<float> std = {0.229f, 0.224f, 0.225f};
  int channels = 3;
  // false for inputs already img_size x img_size (ImageNet-C): no resize or crop.
  bool resize_and_crop = true;
};

// OK when img_size is 1..4096, crop_pct in (0, 2], channels 1 or 3, mean and std have
// `channels` entries, every std > 0 and everything is finite; else InvalidArgument naming the
// field.
Status ValidatePreprocessConfig(const PreprocessConfig& config);

// floor(img_size / crop_pct): the shorter side before the centre crop.
int ScaleSize(const PreprocessConfig& config);

// timm's eval transform: Resize(ScaleSize) -> CenterCrop(img_size) -> ToTensor (x / 255) ->
// Normalize(mean, std). Writes channels * img_size * img_size floats, CHW, to `out`. Only the
// pixels inside the crop are computed, which gives exactly the full resize's values. Errors
// (InvalidArgument): an invalid config, image.channels != config.channels, a malformed image,
// or, with resize_and_crop false, an image that is not img_size x img_size.
Status Preprocess(const Image& image, const PreprocessConfig& config, float* out);

}  // namespace tw::imaging
