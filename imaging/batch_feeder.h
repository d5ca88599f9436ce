// Reads, verifies, decodes and preprocesses images on worker threads, in batches, ahead of the
// model: the model should never wait, and memory stays bounded by a few batches whatever the
// dataset's size. No LibTorch here: batches are plain float buffers (N x C x H x W).
#pragma once

#include <condition_variable>
#include <cstdint>
#include <mutex>
#include <optional>
#include <string>
#include <thread>
#include <vector>

#include "common/status.h"
#include "imaging/image.h"
#include "imaging/preprocess.h"

namespace tw::imaging {

struct FeedItem {
  std::string path;    // absolute
  std::string sha256;  // expected content hash; empty = not checked
};

struct FeederOptions {
  int decode_threads = 1;
  int batch_size = 32;
  int batches_ahead = 3;  // buffers: how far decoding may run ahead of the model
  DecodeOptions decode;
  PreprocessConfig preprocess;
};

class BatchFeeder {
 public:
  struct Batch {
    int64_t first_item = 0;  // index of the batch's first item
    int count = 0;           // images in the batch
    int capacity = 0;        // the batch size: data holds `capacity` images, zeros after `count`
    const float* data = nullptr;  // capacity x C x H x W, contiguous
    // Per item: OK, or why it could not be used (unreadable, changed, corrupt image). Its
    // slot in `data` then holds zeros.
    std::vector<Status> item_status;
  };

  BatchFeeder(std::vector<FeedItem> items, FeederOptions options);
  ~BatchFeeder();  // stops and joins the workers
  BatchFeeder(const BatchFeeder&) = delete;
  BatchFeeder& operator=(const BatchFeeder&) = delete;

  // Waits for the next batch in order; nullopt after the last. The batch stays valid until
  // Release(); only one batch may be held at a time.
  std::optional<Batch> Next();
  void Release();

  // Seconds Next() spent waiting for workers (the model idling for data).
  double wait_seconds() const { return wait_seconds_; }
  size_t item_count() const { return items_.size(); }
  const FeedItem& item(size_t index) const { return items_[index]; }
  size_t floats_per_item() const { return floats_per_item_; }

 private:
  struct Slot {
    int64_t batch = -1;  // which batch the slot is filling
    int done = 0;        // items written
    std::vector<float> data;
    std::vector<Status> status;
  };
  void Work();
  Status Produce(const FeedItem& item, float* out);
  int64_t BatchCount() const;
  int ItemsIn(int64_t batch) const;

  std::vector<FeedItem> items_;
  FeederOptions options_;
  size_t floats_per_item_ = 0;

  std::mutex mutex_;
  std::condition_variable slot_freed_;
  std::condition_variable batch_done_;
  std::vector<Slot> slots_;  // GUARDED_BY(mutex_) except the data of items being written
  int64_t next_item_ = 0;    // GUARDED_BY(mutex_)
  int64_t next_batch_ = 0;   // the batch Next() returns next; GUARDED_BY(mutex_)
  bool holding_ = false;     // a batch is out with the caller
  bool stopping_ = false;    // GUARDED_BY(mutex_)
  double wait_seconds_ = 0;
  std::vector<std::thread> workers_;
};

}  // namespace tw::imaging
