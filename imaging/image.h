// Decoding JPEG and PNG files into 8-bit pixels the way Pillow's Image.open(f).convert("RGB")
// (or .convert("L")) does, because evaluations must see what timm's validate.py sees.
//
// Thread safety: all functions may be called concurrently from any number of threads.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "common/status.h"

namespace tw::imaging {

// 8-bit pixels, rows top to bottom, channels interleaved (HWC); channels is 1 (grey) or 3 (RGB).
struct Image {
  int width = 0;
  int height = 0;
  int channels = 0;
  std::vector<uint8_t> pixels;  // width * height * channels bytes
};

struct DecodeOptions {
  // 3: RGB like Pillow's convert("RGB"); 1: grey like convert("L").
  int channels = 3;
  // Pillow's decompression-bomb error limit (2 x Image.MAX_IMAGE_PIXELS); checked against the
  // header before any pixel memory is allocated.
  uint64_t max_pixels = 178956970;
  // 0: off. > 0: opt-in fast mode for JPEG only: decode at the smallest libjpeg-turbo scaling
  // factor M/8 whose shorter side stays >= this value (full size when none does). The pixels
  // then differ from the reference, so callers must record this in the config hash.
  int dct_scale_min_side = 0;
};

// Decodes a JPEG or PNG held in memory. `name_for_errors` (usually the path) starts every error
// message. Errors are InvalidArgument: empty input, unsupported format, a header whose
// width * height exceeds options.max_pixels, corrupt or truncated data (Pillow refuses
// truncated files too; libjpeg warnings that Pillow ignores, such as extraneous bytes, are
// ignored), or invalid options.
//
// What matches Pillow 9.4 exactly (libjpeg-turbo's accurate integer IDCT, as Pillow uses):
// grey JPEG/PNG replicated to RGB; Adobe CMYK/YCCK JPEGs inverted then converted with Pillow's
// cmyk2rgb; PNG alpha and tRNS dropped (not composited); 16-bit RGB/grey+alpha take the high
// byte, but 16-bit grey is clipped to 0..255 (Pillow opens it as mode "I"); palette indices
// beyond the PLTE map to grey (i, i, i). EXIF orientation and ICC profiles are ignored, as by
// Pillow and torchvision.
StatusOr<Image> DecodeImage(std::string_view bytes, const DecodeOptions& options,
                            std::string_view name_for_errors);

// Reads `path` (refusing files over 512 MiB) and decodes it with DecodeImage.
StatusOr<Image> DecodeImageFile(const std::string& path, const DecodeOptions& options);

// Pillow's RGB -> L conversion (ITU-R 601-2 luma, fixed point, rounded); exposed for tests.
inline uint8_t PillowLuma(uint8_t r, uint8_t g, uint8_t b) {
  return static_cast<uint8_t>((r * 19595u + g * 38470u + b * 7471u + 0x8000u) >> 16);
}

}  // namespace tw::imaging
