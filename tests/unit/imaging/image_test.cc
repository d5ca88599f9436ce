// Hermetic tests of imaging/image.h: every image is encoded here with libpng or TurboJPEG (or
// crafted byte by byte), so nothing outside the test is read. Parity with Pillow on real-sized
// images is tests/integration/imaging_parity_test.cc.
#include "imaging/image.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <png.h>
#include <turbojpeg.h>

#include <algorithm>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <string>
#include <thread>
#include <vector>

#include "tests/testing/status_matchers.h"
#include "tests/testing/temp_dir.h"

namespace tw::imaging {
namespace {

using ::testing::HasSubstr;
using ::tw::testing::StatusIs;

// ---- Encoders -------------------------------------------------------------------------------

void AppendToString(png_structp png, png_bytep data, size_t length) {
  static_cast<std::string*>(png_get_io_ptr(png))->append(reinterpret_cast<char*>(data), length);
}

// A test cannot continue after libpng fails to encode what the test itself made.
void AbortOnPngError(png_structp, png_const_charp message) {
  std::fprintf(stderr, "libpng failed encoding a test image: %s\n", message);
  std::abort();
}

struct PngSpec {
  int width = 0;
  int height = 0;
  int color_type = PNG_COLOR_TYPE_RGB;
  int bit_depth = 8;
  bool interlaced = false;
  std::vector<png_color> palette;
  std::vector<uint8_t> trns;  // palette alpha
  // Rows exactly as the PNG stores them (packed low bit depths, big-endian 16-bit).
  std::vector<std::vector<uint8_t>> rows;
};

std::string EncodePng(const PngSpec& spec) {
  std::string out;
  png_structp png =
      png_create_write_struct(PNG_LIBPNG_VER_STRING, nullptr, AbortOnPngError, nullptr);
  png_infop info = png_create_info_struct(png);
  png_set_write_fn(png, &out, AppendToString, nullptr);
  png_set_IHDR(png, info, spec.width, spec.height, spec.bit_depth, spec.color_type,
               spec.interlaced ? PNG_INTERLACE_ADAM7 : PNG_INTERLACE_NONE,
               PNG_COMPRESSION_TYPE_DEFAULT, PNG_FILTER_TYPE_DEFAULT);
  if (!spec.palette.empty()) {
    png_set_PLTE(png, info, spec.palette.data(), static_cast<int>(spec.palette.size()));
  }
  if (!spec.trns.empty()) {
    png_set_tRNS(png, info, spec.trns.data(), static_cast<int>(spec.trns.size()), nullptr);
  }
  png_write_info(png, info);
  std::vector<png_bytep> rows;
  for (const auto& row : spec.rows) rows.push_back(const_cast<png_bytep>(row.data()));
  png_set_interlace_handling(png);
  png_write_image(png, rows.data());
  png_write_end(png, nullptr);
  png_destroy_write_struct(&png, &info);
  return out;
}

// An 8-bit PNG of `channels` interleaved channels (1 grey, 2 grey+alpha, 3 RGB, 4 RGBA).
std::string EncodePng8(int width, int height, int channels, const std::vector<uint8_t>& pixels,
                       bool interlaced = false) {
  static const int kTypes[] = {0, PNG_COLOR_TYPE_GRAY, PNG_COLOR_TYPE_GRAY_ALPHA,
                               PNG_COLOR_TYPE_RGB, PNG_COLOR_TYPE_RGB_ALPHA};
  PngSpec spec;
  spec.width = width;
  spec.height = height;
  spec.color_type = kTypes[channels];
  spec.interlaced = interlaced;
  for (int y = 0; y < height; ++y) {
    const auto begin = pixels.begin() + static_cast<size_t>(y) * width * channels;
    spec.rows.emplace_back(begin, begin + width * channels);
  }
  return EncodePng(spec);
}

std::string EncodeJpeg(int width, int height, int pixel_format, const std::vector<uint8_t>& pixels,
                       int quality = 95) {
  tjhandle handle = tjInitCompress();
  unsigned char* buffer = nullptr;
  unsigned long size = 0;  // NOLINT(runtime/int): TurboJPEG's type
  const int subsampling = pixel_format == TJPF_GRAY ? TJSAMP_GRAY : TJSAMP_420;
  const int rc = tjCompress2(handle, pixels.data(), width, 0, height, pixel_format, &buffer, &size,
                             subsampling, quality, TJFLAG_ACCURATEDCT);
  EXPECT_EQ(rc, 0) << tjGetErrorStr2(handle);
  std::string out(reinterpret_cast<char*>(buffer), size);
  tjFree(buffer);
  tjDestroy(handle);
  return out;
}

// Deterministic pseudo-random bytes (a linear congruential generator; fine for test content).
std::vector<uint8_t> Noise(size_t count, uint32_t seed) {
  std::vector<uint8_t> out(count);
  for (auto& v : out) {
    seed = seed * 1664525u + 1013904223u;
    v = static_cast<uint8_t>(seed >> 24);
  }
  return out;
}

// A smooth RGB image: JPEG keeps it within a few grey levels.
std::vector<uint8_t> Gradient(int width, int height) {
  std::vector<uint8_t> out;
  for (int y = 0; y < height; ++y) {
    for (int x = 0; x < width; ++x) {
      out.push_back(static_cast<uint8_t>(x * 255 / std::max(1, width - 1)));
      out.push_back(static_cast<uint8_t>(y * 255 / std::max(1, height - 1)));
      out.push_back(128);
    }
  }
  return out;
}

uint32_t Crc32(const std::string& bytes) {
  uint32_t crc = 0xFFFFFFFFu;
  for (unsigned char byte : bytes) {
    crc ^= byte;
    for (int k = 0; k < 8; ++k) crc = (crc >> 1) ^ (0xEDB88320u & (0u - (crc & 1u)));
  }
  return ~crc;
}

std::string BigEndian32(uint32_t v) {
  return std::string{static_cast<char>(v >> 24), static_cast<char>(v >> 16),
                     static_cast<char>(v >> 8), static_cast<char>(v)};
}

std::string PngChunk(const std::string& type, const std::string& data) {
  return BigEndian32(static_cast<uint32_t>(data.size())) + type + data +
         BigEndian32(Crc32(type + data));
}

int MaxAbsDiff(const std::vector<uint8_t>& a, const std::vector<uint8_t>& b) {
  EXPECT_EQ(a.size(), b.size());
  int max = 0;
  for (size_t i = 0; i < std::min(a.size(), b.size()); ++i) {
    max = std::max(max, std::abs(int{a[i]} - int{b[i]}));
  }
  return max;
}

DecodeOptions Channels(int channels) {
  DecodeOptions options;
  options.channels = channels;
  return options;
}

// ---- Tests ----------------------------------------------------------------------------------

TEST(DecodeImageTest, RgbPngRoundTripsExactly) {
  const std::vector<uint8_t> pixels = Noise(7 * 5 * 3, 1);
  TW_ASSERT_OK_AND_ASSIGN(Image image,
                          DecodeImage(EncodePng8(7, 5, 3, pixels), DecodeOptions(), "a.png"));
  EXPECT_EQ(image.width, 7);
  EXPECT_EQ(image.height, 5);
  EXPECT_EQ(image.channels, 3);
  EXPECT_EQ(image.pixels, pixels);
}

TEST(DecodeImageTest, InterlacedPngMatchesPlain) {
  const std::vector<uint8_t> pixels = Noise(13 * 11 * 3, 2);
  TW_ASSERT_OK_AND_ASSIGN(
      Image image, DecodeImage(EncodePng8(13, 11, 3, pixels, /*interlaced=*/true), DecodeOptions(),
                               "adam7.png"));
  EXPECT_EQ(image.pixels, pixels);
}

TEST(DecodeImageTest, GreyPngIsReplicatedToRgbOrKeptAsGrey) {
  const std::vector<uint8_t> grey = Noise(6 * 4, 3);
  const std::string png = EncodePng8(6, 4, 1, grey);
  TW_ASSERT_OK_AND_ASSIGN(Image rgb, DecodeImage(png, DecodeOptions(), "g.png"));
  ASSERT_EQ(rgb.pixels.size(), grey.size() * 3);
  for (size_t i = 0; i < grey.size(); ++i) {
    EXPECT_EQ(rgb.pixels[3 * i], grey[i]);
    EXPECT_EQ(rgb.pixels[3 * i + 1], grey[i]);
    EXPECT_EQ(rgb.pixels[3 * i + 2], grey[i]);
  }
  TW_ASSERT_OK_AND_ASSIGN(Image l, DecodeImage(png, Channels(1), "g.png"));
  EXPECT_EQ(l.channels, 1);
  EXPECT_EQ(l.pixels, grey);
}

TEST(DecodeImageTest, RgbToGreyUsesPillowsLuma) {
  const std::vector<uint8_t> pixels = {255, 0, 0, 0, 255, 0, 0, 0, 255, 10, 200, 30};
  TW_ASSERT_OK_AND_ASSIGN(Image l, DecodeImage(EncodePng8(4, 1, 3, pixels), Channels(1), "c"));
  // (r * 19595 + g * 38470 + b * 7471 + 0x8000) >> 16, Pillow's convert("L").
  EXPECT_THAT(l.pixels, ::testing::ElementsAre(76, 150, 29, 124));
  EXPECT_EQ(PillowLuma(10, 200, 30), 124);  // Pillow: Image.new("RGB", (1, 1), (10, 200, 30))
}

TEST(DecodeImageTest, AlphaIsDroppedNotComposited) {
  std::vector<uint8_t> rgba = Noise(5 * 3 * 4, 4);
  rgba[3] = 0;  // a fully transparent pixel keeps its colour, as in Pillow's convert("RGB")
  TW_ASSERT_OK_AND_ASSIGN(Image image,
                          DecodeImage(EncodePng8(5, 3, 4, rgba), DecodeOptions(), "a.png"));
  for (int i = 0; i < 15; ++i) {
    for (int c = 0; c < 3; ++c) EXPECT_EQ(image.pixels[3 * i + c], rgba[4 * i + c]);
  }
  const std::vector<uint8_t> grey_alpha = Noise(4 * 2 * 2, 5);
  TW_ASSERT_OK_AND_ASSIGN(Image grey,
                          DecodeImage(EncodePng8(4, 2, 2, grey_alpha), Channels(1), "la.png"));
  for (int i = 0; i < 8; ++i) EXPECT_EQ(grey.pixels[i], grey_alpha[2 * i]);
}

TEST(DecodeImageTest, PaletteLooksUpColoursIgnoresTrnsAndMapsMissingEntriesToGrey) {
  PngSpec spec;
  spec.width = 4;
  spec.height = 1;
  spec.color_type = PNG_COLOR_TYPE_PALETTE;
  spec.bit_depth = 4;
  spec.palette = {{10, 20, 30}, {40, 50, 60}};
  spec.trns = {0, 128};
  spec.rows = {{0x01, 0x07}};  // indices 0, 1, 0, 7 (7 is beyond the 2-entry PLTE)
  TW_ASSERT_OK_AND_ASSIGN(Image image, DecodeImage(EncodePng(spec), DecodeOptions(), "p.png"));
  // Pillow's palette starts as a grey ramp: index 7 -> (7, 7, 7).
  EXPECT_THAT(image.pixels, ::testing::ElementsAre(10, 20, 30, 40, 50, 60, 10, 20, 30, 7, 7, 7));
}

TEST(DecodeImageTest, LowBitDepthGreyScalesLikePillow) {
  PngSpec spec;
  spec.width = 8;
  spec.height = 1;
  spec.color_type = PNG_COLOR_TYPE_GRAY;
  spec.bit_depth = 1;
  spec.rows = {{0xA5}};  // 1 0 1 0 0 1 0 1
  TW_ASSERT_OK_AND_ASSIGN(Image one, DecodeImage(EncodePng(spec), Channels(1), "1bit.png"));
  EXPECT_THAT(one.pixels, ::testing::ElementsAre(255, 0, 255, 0, 0, 255, 0, 255));
  spec.width = 2;
  spec.bit_depth = 4;
  spec.rows = {{0x3F}};
  TW_ASSERT_OK_AND_ASSIGN(Image four, DecodeImage(EncodePng(spec), Channels(1), "4bit.png"));
  EXPECT_THAT(four.pixels, ::testing::ElementsAre(3 * 17, 255));
}

TEST(DecodeImageTest, SixteenBitColourTakesTheHighByte) {
  PngSpec spec;
  spec.width = 2;
  spec.height = 1;
  spec.color_type = PNG_COLOR_TYPE_RGB;
  spec.bit_depth = 16;
  spec.rows = {{0x12, 0xFF, 0x80, 0x01, 0xFF, 0xFF, 0x00, 0x80, 0x7F, 0x80, 0x01, 0x00}};
  TW_ASSERT_OK_AND_ASSIGN(Image rgb, DecodeImage(EncodePng(spec), DecodeOptions(), "16.png"));
  EXPECT_THAT(rgb.pixels, ::testing::ElementsAre(0x12, 0x80, 0xFF, 0x00, 0x7F, 0x01));

  spec.color_type = PNG_COLOR_TYPE_GRAY_ALPHA;
  spec.rows = {{0xAB, 0xCD, 0x00, 0x00, 0x01, 0x02, 0xFF, 0xFF}};
  TW_ASSERT_OK_AND_ASSIGN(Image la, DecodeImage(EncodePng(spec), DecodeOptions(), "la16.png"));
  EXPECT_THAT(la.pixels, ::testing::ElementsAre(0xAB, 0xAB, 0xAB, 0x01, 0x01, 0x01));
}

TEST(DecodeImageTest, SixteenBitGreyIsClippedLikePillowsModeI) {
  // Pillow opens 16-bit grey as mode "I"; its convert("RGB"/"L") clips to 0..255.
  PngSpec spec;
  spec.width = 4;
  spec.height = 1;
  spec.color_type = PNG_COLOR_TYPE_GRAY;
  spec.bit_depth = 16;
  spec.rows = {{0x00, 0x07, 0x00, 0xFF, 0x01, 0x00, 0xFF, 0xFF}};  // 7, 255, 256, 65535
  TW_ASSERT_OK_AND_ASSIGN(Image l, DecodeImage(EncodePng(spec), Channels(1), "g16.png"));
  EXPECT_THAT(l.pixels, ::testing::ElementsAre(7, 255, 255, 255));
}

TEST(DecodeImageTest, RgbJpegDecodesCloseToTheSource) {
  const std::vector<uint8_t> pixels = Gradient(64, 48);
  TW_ASSERT_OK_AND_ASSIGN(Image image, DecodeImage(EncodeJpeg(64, 48, TJPF_RGB, pixels, 100),
                                                   DecodeOptions(), "a.jpg"));
  EXPECT_EQ(image.width, 64);
  EXPECT_EQ(image.height, 48);
  EXPECT_LE(MaxAbsDiff(image.pixels, pixels), 8);
  TW_ASSERT_OK_AND_ASSIGN(
      Image grey, DecodeImage(EncodeJpeg(64, 48, TJPF_RGB, pixels, 100), Channels(1), "a.jpg"));
  ASSERT_EQ(grey.pixels.size(), 64u * 48u);
  for (size_t i = 0; i < grey.pixels.size(); ++i) {
    ASSERT_EQ(grey.pixels[i],
              PillowLuma(image.pixels[3 * i], image.pixels[3 * i + 1], image.pixels[3 * i + 2]));
  }
}

TEST(DecodeImageTest, GreyJpegIsReplicatedToRgb) {
  std::vector<uint8_t> grey(32 * 16);
  for (size_t i = 0; i < grey.size(); ++i) grey[i] = static_cast<uint8_t>(i % 32 * 8);
  const std::string jpeg = EncodeJpeg(32, 16, TJPF_GRAY, grey, 100);
  TW_ASSERT_OK_AND_ASSIGN(Image l, DecodeImage(jpeg, Channels(1), "g.jpg"));
  EXPECT_LE(MaxAbsDiff(l.pixels, grey), 2);
  TW_ASSERT_OK_AND_ASSIGN(Image rgb, DecodeImage(jpeg, DecodeOptions(), "g.jpg"));
  for (size_t i = 0; i < l.pixels.size(); ++i) {
    ASSERT_EQ(rgb.pixels[3 * i], l.pixels[i]);
    ASSERT_EQ(rgb.pixels[3 * i + 1], l.pixels[i]);
    ASSERT_EQ(rgb.pixels[3 * i + 2], l.pixels[i]);
  }
}

TEST(DecodeImageTest, CmykJpegIsReadAsAdobeInvertedAndConvertedLikePillow) {
  // Stored values (what libjpeg returns); Pillow reads them inverted: C = 255 - stored.
  const uint8_t stored[4] = {55, 155, 255, 200};
  std::vector<uint8_t> pixels;
  for (int i = 0; i < 16 * 16; ++i) pixels.insert(pixels.end(), stored, stored + 4);
  TW_ASSERT_OK_AND_ASSIGN(Image image, DecodeImage(EncodeJpeg(16, 16, TJPF_CMYK, pixels, 100),
                                                   DecodeOptions(), "cmyk.jpg"));
  // Pillow's cmyk2rgb: (255 - K) - MULDIV255(C, 255 - K) with C = 255 - stored.
  auto expected = [&](int channel) {
    const int c = 255 - stored[channel], nk = stored[3];
    const int t = c * nk + 128;
    return nk - (((t >> 8) + t) >> 8);
  };
  for (int i = 0; i < 16 * 16; ++i) {
    for (int c = 0; c < 3; ++c) EXPECT_NEAR(image.pixels[3 * i + c], expected(c), 2);
  }
}

TEST(DecodeImageTest, DctScalingPicksTheSmallestFactorKeepingTheShorterSide) {
  const std::string jpeg = EncodeJpeg(512, 384, TJPF_RGB, Gradient(512, 384));
  DecodeOptions options;
  options.dct_scale_min_side = 100;  // 3/8: 384 * 3/8 = 144 >= 100 > 384 * 2/8
  TW_ASSERT_OK_AND_ASSIGN(Image scaled, DecodeImage(jpeg, options, "big.jpg"));
  EXPECT_EQ(scaled.width, 192);
  EXPECT_EQ(scaled.height, 144);
  EXPECT_EQ(scaled.pixels.size(), 192u * 144u * 3u);
  options.dct_scale_min_side = 384;
  TW_ASSERT_OK_AND_ASSIGN(Image full, DecodeImage(jpeg, options, "big.jpg"));
  EXPECT_EQ(full.width, 512);
  options.dct_scale_min_side = 1000;  // larger than the image: full size
  TW_ASSERT_OK_AND_ASSIGN(Image small, DecodeImage(jpeg, options, "big.jpg"));
  EXPECT_EQ(small.height, 384);
}

TEST(DecodeImageTest, EmptyAndUnknownInputsNameTheFile) {
  EXPECT_THAT(DecodeImage("", DecodeOptions(), "x/empty.jpg"),
              StatusIs(StatusCode::kInvalidArgument, HasSubstr("x/empty.jpg: empty file")));
  EXPECT_THAT(DecodeImage("hello, world", DecodeOptions(), "g.bin"),
              StatusIs(StatusCode::kInvalidArgument, HasSubstr("g.bin: not a JPEG or PNG image")));
  EXPECT_THAT(DecodeImage("GIF89a\x01\x00\x01\x00", DecodeOptions(), "a.gif"),
              StatusIs(StatusCode::kInvalidArgument, HasSubstr("GIF")));
  EXPECT_THAT(DecodeImage(std::string("\xFF\xD8", 2), DecodeOptions(), "short"),
              StatusIs(StatusCode::kInvalidArgument, HasSubstr("not a JPEG or PNG")));
}

TEST(DecodeImageTest, InvalidOptionsAreRefused) {
  EXPECT_THAT(DecodeImage("x", Channels(4), "f"),
              StatusIs(StatusCode::kInvalidArgument, HasSubstr("channels")));
}

TEST(DecodeImageTest, TruncatedJpegIsAnErrorWhereverItIsCut) {
  const std::string jpeg = EncodeJpeg(64, 64, TJPF_RGB, Noise(64 * 64 * 3, 6), 90);
  for (size_t cut : {size_t{3}, size_t{40}, jpeg.size() / 3, jpeg.size() / 2, jpeg.size() * 9 / 10,
                     jpeg.size() - 2, jpeg.size() - 1}) {
    EXPECT_THAT(DecodeImage(jpeg.substr(0, cut), DecodeOptions(), "cut.jpg"),
                StatusIs(StatusCode::kInvalidArgument, HasSubstr("cut.jpg: corrupt JPEG")))
        << "cut at " << cut << " of " << jpeg.size();
  }
}

TEST(DecodeImageTest, JpegWarningsThatPillowIgnoresAreIgnored) {
  const std::vector<uint8_t> pixels = Gradient(64, 64);
  const std::string jpeg = EncodeJpeg(64, 64, TJPF_RGB, pixels, 90);
  TW_ASSERT_OK_AND_ASSIGN(Image clean, DecodeImage(jpeg, DecodeOptions(), "ok.jpg"));
  // Garbage between the entropy data and EOI: libjpeg warns "extraneous bytes", Pillow decodes.
  const std::string extraneous = jpeg.substr(0, jpeg.size() - 2) + "\x12\x34\x56" + "\xFF\xD9";
  TW_ASSERT_OK_AND_ASSIGN(Image image, DecodeImage(extraneous, DecodeOptions(), "x.jpg"));
  EXPECT_EQ(image.pixels, clean.pixels);
  // Bytes after EOI are never read.
  TW_ASSERT_OK_AND_ASSIGN(Image trailing,
                          DecodeImage(jpeg + "trailing junk", DecodeOptions(), "t.jpg"));
  EXPECT_EQ(trailing.pixels, clean.pixels);
}

TEST(DecodeImageTest, TruncatedOrCorruptPngIsAnError) {
  const std::string png = EncodePng8(32, 32, 3, Noise(32 * 32 * 3, 7));
  for (size_t cut : {size_t{8}, size_t{20}, png.size() / 2, png.size() - 40}) {
    EXPECT_THAT(DecodeImage(png.substr(0, cut), DecodeOptions(), "cut.png"),
                StatusIs(StatusCode::kInvalidArgument, HasSubstr("cut.png: corrupt PNG")))
        << "cut at " << cut << " of " << png.size();
  }
  std::string bad_crc = png;
  bad_crc[20] ^= 0x01;  // inside IHDR's data
  EXPECT_THAT(DecodeImage(bad_crc, DecodeOptions(), "crc.png"),
              StatusIs(StatusCode::kInvalidArgument, HasSubstr("crc.png: corrupt PNG")));
}

TEST(DecodeImageTest, HugePngHeaderIsRefusedBeforeAllocating) {
  // IHDR 100000 x 100000 RGB: 30 GB if allocated. A (bogus) IDAT follows so that libpng's header
  // reading stops there; the size check must come first.
  const std::string ihdr =
      BigEndian32(100000) + BigEndian32(100000) + std::string("\x08\x02\0\0\0", 5);
  const std::string png = std::string("\x89PNG\r\n\x1A\n", 8) + PngChunk("IHDR", ihdr) +
                          PngChunk("IDAT", "xxxx") + PngChunk("IEND", "");
  EXPECT_THAT(DecodeImage(png, DecodeOptions(), "bomb.png"),
              StatusIs(StatusCode::kInvalidArgument,
                       ::testing::AllOf(HasSubstr("bomb.png"), HasSubstr("100000x100000"),
                                        HasSubstr("178956970"), HasSubstr("decompression bomb"))));
}

TEST(DecodeImageTest, HugeJpegHeaderIsRefusedBeforeAllocating) {
  std::string jpeg = EncodeJpeg(16, 16, TJPF_RGB, Gradient(16, 16));
  // Patch the SOF0 frame header (FF C0, length, precision, height, width) to 65000 x 65000.
  const size_t sof = jpeg.find("\xFF\xC0");
  ASSERT_NE(sof, std::string::npos);
  jpeg[sof + 5] = jpeg[sof + 7] = static_cast<char>(65000 >> 8);
  jpeg[sof + 6] = jpeg[sof + 8] = static_cast<char>(65000 & 0xFF);
  EXPECT_THAT(DecodeImage(jpeg, DecodeOptions(), "bomb.jpg"),
              StatusIs(StatusCode::kInvalidArgument,
                       ::testing::AllOf(HasSubstr("bomb.jpg"), HasSubstr("65000x65000"),
                                        HasSubstr("decompression bomb"))));
}

TEST(DecodeImageTest, MaxPixelsIsConfigurable) {
  DecodeOptions options;
  options.max_pixels = 20 * 20 - 1;
  EXPECT_THAT(DecodeImage(EncodePng8(20, 20, 1, Noise(400, 8)), options, "p.png"),
              StatusIs(StatusCode::kInvalidArgument, HasSubstr("exceeds the limit of 399")));
  options.max_pixels = 20 * 20;
  TW_EXPECT_OK(DecodeImage(EncodePng8(20, 20, 1, Noise(400, 8)), options, "p.png"));
}

TEST(DecodeImageTest, DecodeImageFileReadsTheFileAndNamesItInErrors) {
  testing::TempDir dir;
  const std::vector<uint8_t> pixels = Noise(3 * 2 * 3, 9);
  testing::WriteTestFile(dir.Sub("a.png"), EncodePng8(3, 2, 3, pixels));
  TW_ASSERT_OK_AND_ASSIGN(Image image, DecodeImageFile(dir.Sub("a.png"), DecodeOptions()));
  EXPECT_EQ(image.pixels, pixels);
  testing::WriteTestFile(dir.Sub("empty.jpg"), "");
  EXPECT_THAT(DecodeImageFile(dir.Sub("empty.jpg"), DecodeOptions()),
              StatusIs(StatusCode::kInvalidArgument, HasSubstr(dir.Sub("empty.jpg"))));
  EXPECT_THAT(DecodeImageFile(dir.Sub("missing.jpg"), DecodeOptions()),
              StatusIs(StatusCode::kNotFound, HasSubstr("missing.jpg")));
}

// Damaged files must give a result or an InvalidArgument, never a crash (run under ASan too).
TEST(DecodeImageTest, RandomlyDamagedFilesAreHandled) {
  const std::string originals[] = {
      EncodeJpeg(40, 24, TJPF_RGB, Noise(40 * 24 * 3, 11), 80),
      EncodePng8(40, 24, 3, Noise(40 * 24 * 3, 12)),
      EncodePng8(40, 24, 3, Noise(40 * 24 * 3, 13), /*interlaced=*/true)};
  uint32_t seed = 14;
  auto next = [&seed] { return seed = seed * 1664525u + 1013904223u; };
  for (const std::string& original : originals) {
    for (int round = 0; round < 300; ++round) {
      std::string damaged = original;
      for (int n = 0; n < 1 + round % 4; ++n) {
        // Keep the signature so that the decoders, not the sniffing, see the damage.
        const size_t at = 8 + next() % (damaged.size() - 8);
        damaged[at] = static_cast<char>(next() >> 24);
      }
      if (round % 5 == 0) damaged.resize(8 + next() % (damaged.size() - 8));
      const StatusOr<Image> image = DecodeImage(damaged, Channels(1 + 2 * (round % 2)), "d");
      if (image.ok()) {
        EXPECT_EQ(image->pixels.size(),
                  static_cast<size_t>(image->width) * image->height * image->channels);
      } else {
        EXPECT_EQ(image.status().code(), StatusCode::kInvalidArgument) << image.status().ToString();
      }
    }
  }
}

TEST(DecodeImageTest, ConcurrentDecodesAgree) {
  const std::string jpeg = EncodeJpeg(96, 64, TJPF_RGB, Noise(96 * 64 * 3, 10), 90);
  TW_ASSERT_OK_AND_ASSIGN(Image expected, DecodeImage(jpeg, DecodeOptions(), "t.jpg"));
  std::vector<int> mismatches(4, 0);
  std::vector<std::thread> threads;
  for (int t = 0; t < 4; ++t) {
    threads.emplace_back([&, t] {
      for (int i = 0; i < 50; ++i) {
        StatusOr<Image> image = DecodeImage(jpeg, DecodeOptions(), "t.jpg");
        if (!image.ok() || image->pixels != expected.pixels) ++mismatches[t];
      }
    });
  }
  for (auto& thread : threads) thread.join();
  EXPECT_THAT(mismatches, ::testing::Each(0));
}

}  // namespace
}  // namespace tw::imaging
