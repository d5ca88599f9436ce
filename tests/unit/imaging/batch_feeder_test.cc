// The batched decode pipeline: order, padding, per-item errors, and stopping early.
#include "imaging/batch_feeder.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <png.h>

#include "common/sha256.h"
#include "tests/testing/status_matchers.h"
#include "tests/testing/temp_dir.h"

namespace tw::imaging {
namespace {

using ::testing::HasSubstr;
using ::tw::testing::StatusIs;
using ::tw::testing::TempDir;
using ::tw::testing::WriteTestFile;

// A 4x4 RGB PNG whose every pixel has the value `grey`.
std::string Png(uint8_t grey) {
  png_image image{};
  image.version = PNG_IMAGE_VERSION;
  image.width = 4;
  image.height = 4;
  image.format = PNG_FORMAT_RGB;
  std::vector<uint8_t> pixels(4 * 4 * 3, grey);
  png_alloc_size_t size = 0;
  png_image_write_to_memory(&image, nullptr, &size, 0, pixels.data(), 0, nullptr);
  std::string out(size, '\0');
  EXPECT_TRUE(png_image_write_to_memory(&image, out.data(), &size, 0, pixels.data(), 0, nullptr));
  out.resize(size);
  return out;
}

FeederOptions Options(int batch_size, int threads) {
  FeederOptions options;
  options.batch_size = batch_size;
  options.decode_threads = threads;
  options.batches_ahead = 2;
  options.preprocess.img_size = 4;
  options.preprocess.crop_pct = 1.0;
  options.preprocess.mean = {0, 0, 0};
  options.preprocess.std = {1, 1, 1};
  return options;
}

class BatchFeederTest : public ::testing::Test {
 protected:
  // Items whose image i has grey level 10 * i, so data tells which image landed where.
  std::vector<FeedItem> Items(int n, bool with_hashes = true) {
    std::vector<FeedItem> items;
    for (int i = 0; i < n; ++i) {
      std::string bytes = Png(static_cast<uint8_t>(10 * i));
      std::string path = dir_.Sub("img" + std::to_string(i) + ".png");
      WriteTestFile(path, bytes);
      items.push_back(FeedItem{path, with_hashes ? Sha256Hex(bytes) : ""});
    }
    return items;
  }
  TempDir dir_;
};

TEST_F(BatchFeederTest, BatchesComeInOrderAndTheLastIsPaddedWithZeros) {
  for (int threads : {1, 3, 8}) {
    BatchFeeder feeder(Items(7), Options(3, threads));
    std::vector<int> counts;
    int item = 0;
    while (auto batch = feeder.Next()) {
      EXPECT_EQ(batch->first_item, item);
      EXPECT_EQ(batch->capacity, 3);
      counts.push_back(batch->count);
      for (int i = 0; i < batch->capacity; ++i) {
        // 48 floats per image (3 x 4 x 4): the first one says which image this is.
        float value = batch->data[i * 48];
        if (i < batch->count) {
          TW_EXPECT_OK(batch->item_status[static_cast<size_t>(i)]);
          EXPECT_FLOAT_EQ(value, 10.0f * static_cast<float>(item + i) / 255.0f) << threads;
        } else {
          EXPECT_EQ(value, 0.0f) << "padding must be zeros, not a previous batch's images";
        }
      }
      item += batch->count;
      feeder.Release();
    }
    EXPECT_THAT(counts, ::testing::ElementsAre(3, 3, 1)) << threads << " threads";
  }
}

TEST_F(BatchFeederTest, ABatchLargerThanTheDataset) {
  BatchFeeder feeder(Items(2), Options(64, 4));
  auto batch = feeder.Next();
  ASSERT_TRUE(batch.has_value());
  EXPECT_EQ(batch->count, 2);
  EXPECT_EQ(batch->capacity, 64);
  feeder.Release();
  EXPECT_FALSE(feeder.Next().has_value());
}

TEST_F(BatchFeederTest, NoItemsNoBatches) {
  BatchFeeder feeder({}, Options(4, 2));
  EXPECT_FALSE(feeder.Next().has_value());
}

TEST_F(BatchFeederTest, EachBadItemFailsAloneAndSaysWhy) {
  std::vector<FeedItem> items = Items(4);
  WriteTestFile(items[1].path, "not an image");  // and not the bytes hashed
  items[2].sha256 = "";                          // unchecked:
  WriteTestFile(items[2].path, "garbage");       // fails as an image
  items.push_back(FeedItem{dir_.Sub("missing.png"), ""});
  BatchFeeder feeder(items, Options(5, 2));
  auto batch = feeder.Next();
  ASSERT_TRUE(batch.has_value());
  ASSERT_EQ(batch->count, 5);
  TW_EXPECT_OK(batch->item_status[0]);
  EXPECT_THAT(batch->item_status[1],
              StatusIs(StatusCode::kDataLoss, HasSubstr("changed since the dataset's manifest")));
  EXPECT_THAT(batch->item_status[2], StatusIs(StatusCode::kInvalidArgument, HasSubstr("img2.png")));
  TW_EXPECT_OK(batch->item_status[3]);
  EXPECT_THAT(batch->item_status[4], StatusIs(StatusCode::kNotFound, HasSubstr("missing.png")));
  // A failed item's slot is zeros, never another image's pixels.
  for (int f = 0; f < 48; ++f) EXPECT_EQ(batch->data[1 * 48 + f], 0.0f);
  feeder.Release();
}

TEST_F(BatchFeederTest, StoppingEarlyDoesNotHang) {
  // Workers block waiting for buffers the consumer never frees; destruction must wake them.
  for (int threads : {1, 4}) {
    BatchFeeder feeder(Items(20, false), Options(2, threads));
    auto first = feeder.Next();
    ASSERT_TRUE(first.has_value());
    // No Release(): the feeder is destroyed while holding a batch and with workers waiting.
  }
}

}  // namespace
}  // namespace tw::imaging
