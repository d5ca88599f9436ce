#include "scoring/records.h"

#include <charconv>
#include <cmath>
#include <cstring>
#include <nlohmann/json.hpp>

#include "common/csv.h"
#include "common/sha256.h"

namespace tw::scoring {
namespace {

constexpr std::string_view kMagic = "TWPR";
constexpr uint32_t kVersion = 1;
constexpr size_t kHeaderSize = 16;
constexpr size_t kRecordSize = 16;
constexpr uint8_t kCorrectBit = 1, kCorrect5Bit = 2, kExcludedBit = 4;

uint32_t FloatBits(float f) {
  uint32_t bits;
  std::memcpy(&bits, &f, sizeof bits);
  return bits;
}

float BitsToFloat(uint32_t bits) {
  float f;
  std::memcpy(&f, &bits, sizeof f);
  return f;
}

// Byte-by-byte so that the layout is little-endian whatever the host's byte order.
void PutLe(std::string* out, uint64_t value, int bytes) {
  for (int i = 0; i < bytes; ++i) out->push_back(static_cast<char>((value >> (8 * i)) & 0xff));
}

uint64_t GetLe(std::string_view in, size_t offset, int bytes) {
  uint64_t value = 0;
  for (int i = 0; i < bytes; ++i) {
    value |= static_cast<uint64_t>(static_cast<uint8_t>(in[offset + i])) << (8 * i);
  }
  return value;
}

// Shortest decimal that reads back as the same float ("0.1", not "0.100000001490116"); empty
// for NaN. Infinities cannot come from softmax but are written rather than hidden.
std::string FormatProb(float p) {
  if (std::isnan(p)) return "";
  char buf[32];
  auto result = std::to_chars(buf, buf + sizeof buf, p);
  return std::string(buf, result.ptr);
}

}  // namespace

bool operator==(const SampleRecord& a, const SampleRecord& b) {
  return a.top5 == b.top5 && a.correct == b.correct && a.correct5 == b.correct5 &&
         a.excluded == b.excluded && FloatBits(a.true_prob) == FloatBits(b.true_prob);
}

std::string EncodeRecords(const std::vector<SampleRecord>& records) {
  std::string out;
  out.reserve(kHeaderSize + kRecordSize * records.size());
  out.append(kMagic);
  PutLe(&out, kVersion, 4);
  PutLe(&out, records.size(), 8);
  for (const SampleRecord& r : records) {
    for (int16_t c : r.top5) PutLe(&out, static_cast<uint16_t>(c), 2);
    uint8_t flags = 0;
    if (r.correct) flags |= kCorrectBit;
    if (r.correct5) flags |= kCorrect5Bit;
    if (r.excluded) flags |= kExcludedBit;
    out.push_back(static_cast<char>(flags));
    out.push_back('\0');
    PutLe(&out, FloatBits(r.true_prob), 4);
  }
  return out;
}

StatusOr<std::vector<SampleRecord>> DecodeRecords(std::string_view bytes) {
  if (bytes.size() < kHeaderSize) {
    return DataLossError("prediction records: truncated header (" + std::to_string(bytes.size()) +
                         " bytes, need 16)");
  }
  if (bytes.substr(0, 4) != kMagic) {
    return DataLossError("prediction records: bad magic (not a TWPR file)");
  }
  const uint32_t version = static_cast<uint32_t>(GetLe(bytes, 4, 4));
  if (version != kVersion) {
    return DataLossError("prediction records: unsupported version " + std::to_string(version));
  }
  const uint64_t count = GetLe(bytes, 8, 8);
  const size_t body = bytes.size() - kHeaderSize;
  // Compared by division so that a corrupt huge count cannot overflow the multiplication.
  if (body % kRecordSize != 0 || body / kRecordSize != count) {
    return DataLossError("prediction records: length mismatch: header says " +
                         std::to_string(count) + " records, body has " + std::to_string(body) +
                         " bytes (" + std::to_string(kRecordSize) + " per record)");
  }
  std::vector<SampleRecord> records(count);
  for (uint64_t i = 0; i < count; ++i) {
    const size_t at = kHeaderSize + i * kRecordSize;
    const std::string where = "prediction records: record " + std::to_string(i) + ": ";
    SampleRecord& r = records[i];
    for (int j = 0; j < 5; ++j) {
      r.top5[j] = static_cast<int16_t>(static_cast<uint16_t>(GetLe(bytes, at + 2 * j, 2)));
      if (r.top5[j] < -1) {
        return DataLossError(where + "top5 class " + std::to_string(r.top5[j]) + " is negative");
      }
    }
    const uint8_t flags = static_cast<uint8_t>(bytes[at + 10]);
    if ((flags & ~(kCorrectBit | kCorrect5Bit | kExcludedBit)) != 0) {
      return DataLossError(where + "unknown flag bits " + std::to_string(flags));
    }
    if (bytes[at + 11] != '\0') return DataLossError(where + "reserved byte is not zero");
    r.correct = (flags & kCorrectBit) != 0;
    r.correct5 = (flags & kCorrect5Bit) != 0;
    r.excluded = (flags & kExcludedBit) != 0;
    // Combinations the scorer never writes: reading them means the bytes were damaged.
    if (r.excluded && (r.correct || r.correct5)) {
      return DataLossError(where + "excluded sample is marked correct");
    }
    if (r.correct && !r.correct5) return DataLossError(where + "correct but not correct5");
    r.true_prob = BitsToFloat(static_cast<uint32_t>(GetLe(bytes, at + 12, 4)));
  }
  return records;
}

std::string RecordsDigest(std::string_view encoded) { return Sha256Hex(encoded); }

std::string RecordCsvHeader() {
  return CsvLine({"path", "pred1", "pred2", "pred3", "pred4", "pred5", "correct", "correct5",
                  "excluded", "true_prob"});
}

std::string RecordCsvRow(const std::string& path, const SampleRecord& record) {
  std::vector<std::string> fields = {path};
  for (int16_t c : record.top5) fields.push_back(c < 0 ? "" : std::to_string(c));
  fields.push_back(record.correct ? "1" : "0");
  fields.push_back(record.correct5 ? "1" : "0");
  fields.push_back(record.excluded ? "1" : "0");
  fields.push_back(FormatProb(record.true_prob));
  return CsvLine(fields);
}

std::string RecordJsonLine(const std::string& path, const SampleRecord& record) {
  nlohmann::ordered_json j;
  j["path"] = path;
  j["top5"] = nlohmann::ordered_json::array();
  for (int16_t c : record.top5) {
    if (c >= 0) j["top5"].push_back(c);
  }
  j["correct"] = record.correct;
  j["correct5"] = record.correct5;
  j["excluded"] = record.excluded;
  if (std::isnan(record.true_prob)) {
    j["true_prob"] = nullptr;
  } else {
    // The double nearest the float's shortest decimal: nlohmann prints doubles shortest-first,
    // so the output shows "0.1" for 0.1f and a float parse of it gives back the same float.
    const std::string text = FormatProb(record.true_prob);
    double value = record.true_prob;  // from_chars (locale-independent) overwrites on success.
    std::from_chars(text.data(), text.data() + text.size(), value);
    j["true_prob"] = value;
  }
  // replace: a path with invalid UTF-8 must not throw (we do not use exceptions).
  return j.dump(-1, ' ', false, nlohmann::ordered_json::error_handler_t::replace) + "\n";
}

}  // namespace tw::scoring
