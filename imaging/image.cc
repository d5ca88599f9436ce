#include "imaging/image.h"

#include <png.h>
#include <turbojpeg.h>

#include <algorithm>
#include <csetjmp>
#include <cstdio>
#include <cstring>
#include <utility>

#include "common/file_util.h"

namespace tw::imaging {
namespace {

constexpr uint64_t kMaxFileBytes = uint64_t{512} << 20;

Status Invalid(std::string_view name, std::string_view reason) {
  std::string message(name);
  message += ": ";
  message += reason;
  return InvalidArgumentError(std::move(message));
}

bool HasPrefix(std::string_view bytes, std::string_view prefix) {
  return bytes.substr(0, prefix.size()) == prefix;
}

// Names formats we refuse so that the error says what the file is, not just what it is not.
const char* OtherFormatName(std::string_view bytes) {
  if (HasPrefix(bytes, "GIF87a") || HasPrefix(bytes, "GIF89a")) return "GIF";
  if (HasPrefix(bytes, "RIFF") && bytes.substr(8, 4) == "WEBP") return "WebP";
  if (HasPrefix(bytes, "BM")) return "BMP";
  if (HasPrefix(bytes, std::string_view("II*\0", 4)) ||
      HasPrefix(bytes, std::string_view("MM\0*", 4))) {
    return "TIFF";
  }
  return nullptr;
}

// Checked against the header before pixel memory is allocated, so that a crafted header cannot
// make us allocate gigabytes (Pillow's DecompressionBombError does the same).
Status CheckDimensions(std::string_view name, uint64_t width, uint64_t height,
                       uint64_t max_pixels) {
  if (width == 0 || height == 0) {
    return Invalid(name, "image has a zero dimension (" + std::to_string(width) + "x" +
                             std::to_string(height) + ")");
  }
  if (width * height > max_pixels) {
    return Invalid(name, "image size " + std::to_string(width) + "x" + std::to_string(height) +
                             " = " + std::to_string(width * height) +
                             " pixels exceeds the limit of " + std::to_string(max_pixels) +
                             " pixels (decompression bomb?)");
  }
  return OkStatus();
}

// Pillow's cmyk2rgb on Pillow's (inverted) CMYK values: channel = (255-k) - (c*(255-k))/255
// with its MULDIV255 rounding. libjpeg returns the stored Adobe values, which are already
// 255-c and 255-k.
inline uint8_t CmykChannel(uint8_t stored_c, uint8_t stored_k) {
  const unsigned c = 255u - stored_c;
  const unsigned nk = stored_k;
  const unsigned t = c * nk + 128u;
  return static_cast<uint8_t>(nk - (((t >> 8) + t) >> 8));
}

// ---------------------------------------------------------------------------------------------
// JPEG (TurboJPEG)

// One handle per thread: handles are not thread-safe and creating one per image costs more
// than decoding a thumbnail. After any failure or warning the handle is replaced, because
// TurboJPEG does not always reset the decompressor after an error (a failed
// tjDecompressHeader3 leaves it mid-header and the next image then fails).
class ThreadDecompressor {
 public:
  ~ThreadDecompressor() { Discard(); }
  tjhandle Get() {
    if (handle_ == nullptr) handle_ = tjInitDecompress();
    return handle_;
  }
  void Discard() {
    if (handle_ != nullptr) tjDestroy(handle_);
    handle_ = nullptr;
  }

 private:
  tjhandle handle_ = nullptr;
};

thread_local ThreadDecompressor thread_decompressor;

// Smallest scaling factor M/8 (M = 1..8) keeping the shorter side >= min_side.
tjscalingfactor ChooseScale(int width, int height, int min_side) {
  tjscalingfactor best = {1, 1};
  if (min_side <= 0) return best;
  int count = 0;
  const tjscalingfactor* factors = tjGetScalingFactors(&count);
  for (int i = 0; factors != nullptr && i < count; ++i) {
    const tjscalingfactor f = factors[i];
    if (f.num > f.denom) continue;  // only reductions
    const int shorter = std::min(TJSCALED(width, f), TJSCALED(height, f));
    if (shorter < min_side) continue;
    if (static_cast<int64_t>(f.num) * best.denom < static_cast<int64_t>(best.num) * f.denom) {
      best = f;
    }
  }
  return best;
}

StatusOr<Image> DecodeJpeg(std::string_view bytes, const DecodeOptions& options,
                           std::string_view name) {
  tjhandle handle = thread_decompressor.Get();
  if (handle == nullptr) {
    return InternalError(std::string(name) +
                         ": tjInitDecompress failed: " + tjGetErrorStr2(nullptr));
  }
  const auto* data = reinterpret_cast<const unsigned char*>(bytes.data());
  const auto size = static_cast<unsigned long>(bytes.size());  // NOLINT(runtime/int): TJ API
  int width = 0, height = 0, subsampling = -1, colorspace = -1;
  // tjDecompressHeader3 fails on header warnings and on subsampling it cannot name after
  // filling the outputs, which libjpeg (hence Pillow) decodes; it succeeds without filling
  // them when the data ends before a frame header. So the outputs decide, and tjDecompress2
  // has the last word.
  const int header_rc =
      tjDecompressHeader3(handle, data, size, &width, &height, &subsampling, &colorspace);
  const std::string header_error = header_rc != 0 ? tjGetErrorStr2(handle) : "";
  if (header_rc != 0) {
    thread_decompressor.Discard();
    handle = thread_decompressor.Get();
    if (handle == nullptr) {
      return InternalError(std::string(name) +
                           ": tjInitDecompress failed: " + tjGetErrorStr2(nullptr));
    }
  }
  if (width <= 0 || height <= 0 || colorspace < 0) {
    return Invalid(
        name, "corrupt JPEG: " +
                  (header_rc != 0 ? header_error : "truncated: no frame header before the end"));
  }
  TW_RETURN_IF_ERROR(CheckDimensions(name, width, height, options.max_pixels));

  const tjscalingfactor scale = ChooseScale(width, height, options.dct_scale_min_side);
  const int out_width = TJSCALED(width, scale);
  const int out_height = TJSCALED(height, scale);
  int pixel_format = TJPF_RGB;
  int decoded_channels = 3;
  if (colorspace == TJCS_GRAY) {
    pixel_format = TJPF_GRAY;
    decoded_channels = 1;
  } else if (colorspace == TJCS_CMYK || colorspace == TJCS_YCCK) {
    pixel_format = TJPF_CMYK;
    decoded_channels = 4;
  }

  Image image;
  image.width = out_width;
  image.height = out_height;
  image.channels = options.channels;
  const size_t pixel_count = static_cast<size_t>(out_width) * out_height;
  // Decode straight into the result and convert in place: one allocation per image.
  image.pixels.resize(pixel_count * std::max(decoded_channels, options.channels));
  uint8_t* px = image.pixels.data();
  if (tjDecompress2(handle, data, size, px, out_width, 0, out_height, pixel_format,
                    TJFLAG_ACCURATEDCT) != 0) {
    const std::string reason = tjGetErrorStr2(handle);
    const bool warning = tjGetErrorCode(handle) == TJERR_WARNING;
    thread_decompressor.Discard();
    // Pillow raises on a truncated file (libjpeg ran out of data: "Premature end of JPEG
    // file") but, like libjpeg, decodes through other warnings (corrupt entropy data,
    // extraneous bytes before a marker), so do we.
    if (!warning) return Invalid(name, "corrupt JPEG: " + reason);
    if (reason.rfind("Premature end of JPEG file", 0) == 0) {
      return Invalid(name, "corrupt JPEG: truncated: " + reason);
    }
  }

  if (decoded_channels == 4) {
    // Forward in place: pixel i's output (3i or i) never overtakes its input (4i).
    for (size_t i = 0; i < pixel_count; ++i) {
      const uint8_t* in = px + 4 * i;
      const uint8_t r = CmykChannel(in[0], in[3]);
      const uint8_t g = CmykChannel(in[1], in[3]);
      const uint8_t b = CmykChannel(in[2], in[3]);
      if (options.channels == 3) {
        px[3 * i] = r;
        px[3 * i + 1] = g;
        px[3 * i + 2] = b;
      } else {
        px[i] = PillowLuma(r, g, b);
      }
    }
  } else if (decoded_channels == 1 && options.channels == 3) {
    for (size_t i = pixel_count; i-- > 0;) {  // backwards: outputs lie after inputs
      px[3 * i] = px[3 * i + 1] = px[3 * i + 2] = px[i];
    }
  } else if (decoded_channels == 3 && options.channels == 1) {
    // Pillow converts the decoded RGB, which differs from libjpeg's own Y channel.
    for (size_t i = 0; i < pixel_count; ++i) {
      px[i] = PillowLuma(px[3 * i], px[3 * i + 1], px[3 * i + 2]);
    }
  }
  image.pixels.resize(pixel_count * options.channels);
  return image;
}

// ---------------------------------------------------------------------------------------------
// PNG (libpng classic API)
//
// libpng reports errors by longjmp. Every function that calls libpng after a setjmp below keeps
// only trivially destructible locals, and the callbacks are plain C-style functions, so the
// jump never skips a C++ destructor; the png_struct itself is owned by PngReader in the caller.

struct PngSource {
  const uint8_t* data;
  size_t size;
  size_t position;
  char error[200];
};

void PngReadCallback(png_structp png, png_bytep out, size_t length) {
  auto* source = static_cast<PngSource*>(png_get_io_ptr(png));
  if (length > source->size - source->position) {
    png_error(png, "unexpected end of file (truncated PNG)");
  }
  std::memcpy(out, source->data + source->position, length);
  source->position += length;
}

void PngErrorCallback(png_structp png, png_const_charp message) {
  auto* source = static_cast<PngSource*>(png_get_error_ptr(png));
  std::snprintf(source->error, sizeof(source->error), "%s", message);
  png_longjmp(png, 1);
}

// Pillow does not stop on what libpng merely warns about (bad ancillary chunks, sRGB
// profiles), so warnings are dropped.
void PngWarningCallback(png_structp, png_const_charp) {}

struct PngLayout {
  png_uint_32 width;
  png_uint_32 height;
  int color_type;    // of the file
  int bit_depth;     // of the file
  int row_channels;  // per pixel after the transforms set up below
  int row_bytes;     // per row after the transforms
  bool grey16;       // 16-bit grey kept at 16 bits (Pillow clips it, see image.h)
  uint8_t palette[256][3];
};

// Reads the header and sets up the transforms. Returns false after a libpng error.
bool PngReadHeader(png_structp png, png_infop info, PngLayout* layout) {
  if (setjmp(png_jmpbuf(png))) return false;
  png_read_info(png, info);
  layout->width = png_get_image_width(png, info);
  layout->height = png_get_image_height(png, info);
  layout->color_type = png_get_color_type(png, info);
  layout->bit_depth = png_get_bit_depth(png, info);
  layout->grey16 = layout->color_type == PNG_COLOR_TYPE_GRAY && layout->bit_depth == 16;
  if (layout->color_type == PNG_COLOR_TYPE_PALETTE) {
    // Pillow's palette starts as a grey ramp, so indices beyond PLTE read as (i, i, i); libpng
    // would give black. Hence indices are unpacked and looked up here, not by libpng, which
    // also keeps tRNS from turning into alpha.
    for (int i = 0; i < 256; ++i) {
      layout->palette[i][0] = layout->palette[i][1] = layout->palette[i][2] =
          static_cast<uint8_t>(i);
    }
    png_colorp entries = nullptr;
    int count = 0;
    if (png_get_PLTE(png, info, &entries, &count) != 0) {
      for (int i = 0; i < count && i < 256; ++i) {
        layout->palette[i][0] = entries[i].red;
        layout->palette[i][1] = entries[i].green;
        layout->palette[i][2] = entries[i].blue;
      }
    }
    png_set_packing(png);
  } else if (layout->color_type == PNG_COLOR_TYPE_GRAY && layout->bit_depth < 8) {
    png_set_expand_gray_1_2_4_to_8(png);  // scales like Pillow's "1", "L;2", "L;4"
  }
  if (layout->bit_depth == 16 && !layout->grey16) png_set_strip_16(png);  // the high byte
  png_set_interlace_handling(png);
  png_read_update_info(png, info);
  layout->row_channels = png_get_channels(png, info);
  layout->row_bytes = static_cast<int>(png_get_rowbytes(png, info));
  return true;
}

// Reads all rows (any interlacing) through `rows`. Returns false after a libpng error.
bool PngReadPixels(png_structp png, png_bytepp rows) {
  if (setjmp(png_jmpbuf(png))) return false;
  png_read_image(png, rows);
  return true;
}

class PngReader {
 public:
  PngReader() {
    png_ = png_create_read_struct(PNG_LIBPNG_VER_STRING, nullptr, nullptr, nullptr);
    if (png_ != nullptr) info_ = png_create_info_struct(png_);
  }
  ~PngReader() { png_destroy_read_struct(&png_, info_ != nullptr ? &info_ : nullptr, nullptr); }
  PngReader(const PngReader&) = delete;
  PngReader& operator=(const PngReader&) = delete;

  png_structp png() const { return png_; }
  png_infop info() const { return info_; }

 private:
  png_structp png_ = nullptr;
  png_infop info_ = nullptr;
};

// Converts one row after libpng's transforms to the output channels, the way Pillow's
// convert("RGB") / convert("L") treats the mode Pillow opened the file in.
void ConvertPngRow(const PngLayout& layout, const uint8_t* in, int width, int out_channels,
                   uint8_t* out) {
  const bool palette = layout.color_type == PNG_COLOR_TYPE_PALETTE;
  for (int x = 0; x < width; ++x) {
    uint8_t r, g, b;
    if (palette) {
      const uint8_t* entry = layout.palette[in[x]];
      r = entry[0], g = entry[1], b = entry[2];
    } else if (layout.grey16) {
      const unsigned v = (unsigned{in[2 * x]} << 8) | in[2 * x + 1];
      r = g = b = static_cast<uint8_t>(v > 255 ? 255 : v);
    } else if (layout.row_channels <= 2) {  // grey, grey + alpha (dropped)
      r = g = b = in[x * layout.row_channels];
    } else {  // RGB, RGBA (alpha dropped)
      const uint8_t* p = in + x * layout.row_channels;
      r = p[0], g = p[1], b = p[2];
    }
    if (out_channels == 3) {
      out[3 * x] = r;
      out[3 * x + 1] = g;
      out[3 * x + 2] = b;
    } else {
      // Pillow's L from grey is the grey value itself; from colour, the luma (which also
      // returns v for r = g = b = v, as the weights sum to 65536).
      out[x] = PillowLuma(r, g, b);
    }
  }
}

StatusOr<Image> DecodePng(std::string_view bytes, const DecodeOptions& options,
                          std::string_view name) {
  PngReader reader;
  if (reader.png() == nullptr || reader.info() == nullptr) {
    return InternalError(std::string(name) + ": cannot create a libpng reader (out of memory?)");
  }
  PngSource source{reinterpret_cast<const uint8_t*>(bytes.data()), bytes.size(), 0, {}};
  png_set_error_fn(reader.png(), &source, PngErrorCallback, PngWarningCallback);
  png_set_read_fn(reader.png(), &source, PngReadCallback);

  PngLayout layout{};
  if (!PngReadHeader(reader.png(), reader.info(), &layout)) {
    return Invalid(name, std::string("corrupt PNG: ") + source.error);
  }
  TW_RETURN_IF_ERROR(CheckDimensions(name, layout.width, layout.height, options.max_pixels));

  Image image;
  image.width = static_cast<int>(layout.width);
  image.height = static_cast<int>(layout.height);
  image.channels = options.channels;
  const size_t out_row = static_cast<size_t>(image.width) * image.channels;
  image.pixels.resize(out_row * image.height);
  // Rows already in the output layout are read in place; others go through a raw buffer.
  const bool direct = !layout.grey16 && layout.color_type != PNG_COLOR_TYPE_PALETTE &&
                      layout.row_channels == image.channels &&
                      static_cast<size_t>(layout.row_bytes) == out_row;
  std::vector<uint8_t> raw;
  uint8_t* base = image.pixels.data();
  size_t stride = out_row;
  if (!direct) {
    raw.resize(static_cast<size_t>(layout.row_bytes) * image.height);
    base = raw.data();
    stride = layout.row_bytes;
  }
  std::vector<png_bytep> rows(image.height);
  for (int y = 0; y < image.height; ++y) rows[y] = base + y * stride;
  if (!PngReadPixels(reader.png(), rows.data())) {
    return Invalid(name, std::string("corrupt PNG: ") + source.error);
  }
  if (!direct) {
    for (int y = 0; y < image.height; ++y) {
      ConvertPngRow(layout, rows[y], image.width, image.channels,
                    image.pixels.data() + y * out_row);
    }
  }
  return image;
}

}  // namespace

StatusOr<Image> DecodeImage(std::string_view bytes, const DecodeOptions& options,
                            std::string_view name_for_errors) {
  const std::string_view name = name_for_errors;
  if (options.channels != 1 && options.channels != 3) {
    return Invalid(
        name, "DecodeOptions.channels must be 1 or 3, not " + std::to_string(options.channels));
  }
  if (options.dct_scale_min_side < 0) {
    return Invalid(name, "DecodeOptions.dct_scale_min_side must be >= 0");
  }
  if (bytes.empty()) return Invalid(name, "empty file");
  if (HasPrefix(bytes, "\xFF\xD8\xFF")) return DecodeJpeg(bytes, options, name);
  if (HasPrefix(bytes, "\x89PNG\r\n\x1A\n")) return DecodePng(bytes, options, name);
  if (const char* other = OtherFormatName(bytes)) {
    return Invalid(name, std::string("not a JPEG or PNG image (it looks like ") + other +
                             "; only JPEG and PNG are supported)");
  }
  return Invalid(name, "not a JPEG or PNG image (only JPEG and PNG are supported)");
}

StatusOr<Image> DecodeImageFile(const std::string& path, const DecodeOptions& options) {
  TW_ASSIGN_OR_RETURN(std::string bytes, ReadFileToString(path, kMaxFileBytes));
  return DecodeImage(bytes, options, path);
}

}  // namespace tw::imaging
