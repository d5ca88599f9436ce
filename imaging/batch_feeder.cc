#include "imaging/batch_feeder.h"

#include <algorithm>
#include <chrono>
#include <cstring>

#include "common/file_util.h"
#include "common/sha256.h"

namespace tw::imaging {
namespace {

constexpr uint64_t kMaxImageFileBytes = 512ull << 20;

Status ResourceError(const std::string& path, const char* what) {
  return InvalidArgumentError(path + ": cannot decode: " + what);
}

}  // namespace

BatchFeeder::BatchFeeder(std::vector<FeedItem> items, FeederOptions options)
    : items_(std::move(items)), options_(std::move(options)) {
  options_.batch_size = std::max(1, options_.batch_size);
  options_.batches_ahead = std::max(1, options_.batches_ahead);
  options_.decode_threads = std::max(1, options_.decode_threads);
  const auto& p = options_.preprocess;
  floats_per_item_ = static_cast<size_t>(p.channels) * p.img_size * p.img_size;
  slots_.resize(static_cast<size_t>(options_.batches_ahead));
  for (size_t s = 0; s < slots_.size(); ++s) {
    slots_[s].batch = static_cast<int64_t>(s);
    slots_[s].data.resize(floats_per_item_ * options_.batch_size);
    slots_[s].status.resize(options_.batch_size);
  }
  for (int t = 0; t < options_.decode_threads; ++t) workers_.emplace_back([this] { Work(); });
}

BatchFeeder::~BatchFeeder() {
  {
    std::lock_guard<std::mutex> lock(mutex_);
    stopping_ = true;
  }
  slot_freed_.notify_all();
  batch_done_.notify_all();
  for (auto& worker : workers_) worker.join();
}

int64_t BatchFeeder::BatchCount() const {
  return (static_cast<int64_t>(items_.size()) + options_.batch_size - 1) / options_.batch_size;
}

int BatchFeeder::ItemsIn(int64_t batch) const {
  int64_t first = batch * options_.batch_size;
  return static_cast<int>(
      std::min<int64_t>(options_.batch_size, static_cast<int64_t>(items_.size()) - first));
}

Status BatchFeeder::Produce(const FeedItem& item, float* out) {
  TW_ASSIGN_OR_RETURN(std::string bytes, ReadFileToString(item.path, kMaxImageFileBytes));
  if (!item.sha256.empty()) {
    std::string actual = Sha256Hex(bytes);
    if (actual != item.sha256) {
      // Results must describe the manifest's files, not whatever is there now.
      return DataLossError(item.path + " changed since the dataset's manifest was made (sha256 " +
                           actual.substr(0, 12) + ", manifest " + item.sha256.substr(0, 12) +
                           "): run `transferwatch dataset verify`");
    }
  }
  TW_ASSIGN_OR_RETURN(Image image, DecodeImage(bytes, options_.decode, item.path));
  return Preprocess(image, options_.preprocess, out).WithContext(item.path);
}

void BatchFeeder::Work() {
  while (true) {
    int64_t item;
    size_t slot_index;
    {
      std::unique_lock<std::mutex> lock(mutex_);
      if (stopping_ || next_item_ >= static_cast<int64_t>(items_.size())) return;
      item = next_item_++;
      int64_t batch = item / options_.batch_size;
      slot_index = static_cast<size_t>(batch % options_.batches_ahead);
      // Wait until the model released the batch this slot held before.
      slot_freed_.wait(lock, [&] { return stopping_ || slots_[slot_index].batch == batch; });
      if (stopping_) return;
    }
    Slot& slot = slots_[slot_index];
    size_t offset = static_cast<size_t>(item % options_.batch_size);
    float* out = slot.data.data() + offset * floats_per_item_;
    Status status;
    try {
      status = Produce(items_[static_cast<size_t>(item)], out);
    } catch (const std::exception& e) {
      // Out of memory on a huge image, mostly: this image fails, the evaluator goes on.
      status = ResourceError(items_[static_cast<size_t>(item)].path, e.what());
    }
    if (!status.ok()) std::memset(out, 0, floats_per_item_ * sizeof(float));
    {
      std::lock_guard<std::mutex> lock(mutex_);
      slot.status[offset] = std::move(status);
      ++slot.done;
    }
    batch_done_.notify_all();
  }
}

std::optional<BatchFeeder::Batch> BatchFeeder::Next() {
  std::unique_lock<std::mutex> lock(mutex_);
  if (holding_) return std::nullopt;  // a bug in the caller: Release() first
  if (next_batch_ >= BatchCount()) return std::nullopt;
  int64_t batch = next_batch_;
  Slot& slot = slots_[static_cast<size_t>(batch % options_.batches_ahead)];
  int count = ItemsIn(batch);
  auto start = std::chrono::steady_clock::now();
  batch_done_.wait(lock, [&] { return stopping_ || (slot.batch == batch && slot.done == count); });
  wait_seconds_ += std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  if (stopping_) return std::nullopt;
  holding_ = true;
  if (count < options_.batch_size) {
    // The last, short batch: zeros after its images, whatever the slot held before.
    std::fill(slot.data.begin() + static_cast<ptrdiff_t>(count * floats_per_item_), slot.data.end(),
              0.0f);
  }
  Batch out;
  out.first_item = batch * options_.batch_size;
  out.count = count;
  out.capacity = options_.batch_size;
  out.data = slot.data.data();
  out.item_status.assign(slot.status.begin(), slot.status.begin() + count);
  return out;
}

void BatchFeeder::Release() {
  {
    std::lock_guard<std::mutex> lock(mutex_);
    if (!holding_) return;
    holding_ = false;
    Slot& slot = slots_[static_cast<size_t>(next_batch_ % options_.batches_ahead)];
    slot.batch = next_batch_ + options_.batches_ahead;
    slot.done = 0;
    ++next_batch_;
  }
  slot_freed_.notify_all();
}

}  // namespace tw::imaging
