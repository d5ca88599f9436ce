// The one file of the demo that calls libpng.
#include "demo/png_writer.h"

#include <png.h>

#include <csetjmp>
#include <cstdio>
#include <vector>

namespace tw::demo {

namespace {

// libpng reports errors by longjmp. The function that calls setjmp below holds no C++ object
// with a destructor, so the jump never skips one; the caller owns the string and the rows.
struct PngSink {
  std::string* out;
  char message[200];
};

void PngWriteCallback(png_structp png, png_bytep data, size_t length) {
  auto* sink = static_cast<PngSink*>(png_get_io_ptr(png));
  sink->out->append(reinterpret_cast<const char*>(data), length);
}

void PngFlushCallback(png_structp) {}

void PngErrorCallback(png_structp png, png_const_charp message) {
  auto* sink = static_cast<PngSink*>(png_get_error_ptr(png));
  std::snprintf(sink->message, sizeof(sink->message), "%s", message);
  png_longjmp(png, 1);
}

void PngWarningCallback(png_structp, png_const_charp) {}

// Returns false after a libpng error (the message is in sink->message).
bool WritePng(png_structp png, png_infop info, png_uint_32 width, png_uint_32 height,
              int color_type, png_bytepp rows) {
  if (setjmp(png_jmpbuf(png))) return false;
  png_set_IHDR(png, info, width, height, 8, color_type, PNG_INTERLACE_NONE,
               PNG_COMPRESSION_TYPE_DEFAULT, PNG_FILTER_TYPE_DEFAULT);
  png_set_compression_level(png, 9);
  png_set_rows(png, info, rows);
  png_write_png(png, info, PNG_TRANSFORM_IDENTITY, nullptr);
  return true;
}

}  // namespace

StatusOr<std::string> EncodePng(const imaging::Image& image) {
  if (image.channels != 1 && image.channels != 3) {
    return InvalidArgumentError("cannot write a PNG of " + std::to_string(image.channels) +
                                " channels (1 or 3)");
  }
  if (image.width < 1 || image.height < 1 ||
      image.pixels.size() != static_cast<size_t>(image.width) * image.height * image.channels) {
    return InvalidArgumentError("cannot write a PNG: a " + std::to_string(image.width) + "x" +
                                std::to_string(image.height) + " image has " +
                                std::to_string(image.pixels.size()) + " bytes");
  }
  std::string out;
  PngSink sink{&out, {}};
  png_structp png =
      png_create_write_struct(PNG_LIBPNG_VER_STRING, &sink, PngErrorCallback, PngWarningCallback);
  png_infop info = png != nullptr ? png_create_info_struct(png) : nullptr;
  if (png == nullptr || info == nullptr) {
    png_destroy_write_struct(&png, info != nullptr ? &info : nullptr);
    return InternalError("cannot create a libpng writer (out of memory?)");
  }
  png_set_write_fn(png, &sink, PngWriteCallback, PngFlushCallback);
  const size_t stride = static_cast<size_t>(image.width) * image.channels;
  std::vector<png_bytep> rows(image.height);
  for (int y = 0; y < image.height; ++y) {
    // libpng's row pointers are not const, but writing only reads them.
    rows[y] = const_cast<png_bytep>(image.pixels.data() + y * stride);
  }
  const bool ok =
      WritePng(png, info, image.width, image.height,
               image.channels == 1 ? PNG_COLOR_TYPE_GRAY : PNG_COLOR_TYPE_RGB, rows.data());
  png_destroy_write_struct(&png, &info);
  if (!ok) return InternalError(std::string("libpng failed to write a PNG: ") + sink.message);
  return out;
}

}  // namespace tw::demo
