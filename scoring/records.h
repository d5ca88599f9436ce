// Per-sample prediction records: what one evaluation remembers about each image, so that paired
// tests (McNemar) and re-scoring need no second forward pass. Pure functions, no I/O.
//
// Binary layout (version 1), all integers little-endian, independent of the host:
//   offset 0   4 bytes  magic "TWPR"
//   offset 4   uint32   version = 1
//   offset 8   uint64   record count N
//   offset 16  N records of 16 bytes each:
//     +0   5 x int16   top5: model class indices (1000-class space), best first; -1 pads the
//                      slots when fewer than five classes compete
//     +10  uint8       flags: bit0 correct, bit1 correct5, bit2 excluded; other bits 0
//     +11  uint8       reserved, 0
//     +12  float32     true_prob as its IEEE-754 bits (NaN when there is no single true class)
// Total size 16 + 16 * N bytes (800 KB for 50,000 ImageNet images; it compresses well).
//
// Thread safety: all functions are thread-safe.
#pragma once

#include <array>
#include <cstdint>
#include <limits>
#include <string>
#include <string_view>
#include <vector>

#include "common/status.h"

namespace tw::scoring {

struct SampleRecord {
  std::array<int16_t, 5> top5{};  // Model class indices, best first; -1 for unused slots.
  bool correct = false;           // Top-1 correct under the protocol.
  bool correct5 = false;          // Top-5 correct under the protocol.
  bool excluded = false;          // Multi-label sample with an empty label set: not scored.
  // Softmax probability of the true class (over the subset when the protocol has one); NaN for
  // multi-label and excluded samples.
  float true_prob = std::numeric_limits<float>::quiet_NaN();
};

// Exact equality, with true_prob compared by its bits so that NaN == NaN (what a round trip
// through EncodeRecords/DecodeRecords preserves).
bool operator==(const SampleRecord& a, const SampleRecord& b);
inline bool operator!=(const SampleRecord& a, const SampleRecord& b) { return !(a == b); }

// The records in the layout above. Same records, same bytes.
std::string EncodeRecords(const std::vector<SampleRecord>& records);

// Parses the layout above strictly. DataLoss naming what is wrong: a truncated header, bad
// magic, an unsupported version, a length that disagrees with the count, and per record
// ("record 7: ...") unknown flag bits, a non-zero reserved byte, a top5 entry below -1,
// excluded together with correct/correct5, or correct without correct5.
StatusOr<std::vector<SampleRecord>> DecodeRecords(std::string_view bytes);

// SHA-256 of the encoded bytes, 64 lowercase hex characters: stored with an evaluation so that
// a re-run can prove it produced the same predictions bit for bit.
std::string RecordsDigest(std::string_view encoded);

// "path,pred1,pred2,pred3,pred4,pred5,correct,correct5,excluded,true_prob\n".
std::string RecordCsvHeader();

// One CSV line (common/csv.h's CsvLine, so ending in "\n") matching RecordCsvHeader(): flags
// as 0/1, unused top5 slots and a NaN true_prob as empty cells, true_prob as the shortest
// decimal that reads back as the same float.
std::string RecordCsvRow(const std::string& path, const SampleRecord& record);

// One JSON object followed by "\n":
//   {"path":...,"top5":[...],"correct":b,"correct5":b,"excluded":b,"true_prob":x|null}
// top5 lists only the used slots; true_prob as in RecordCsvRow, null for NaN. Invalid UTF-8 in
// `path` is replaced by U+FFFD rather than failing.
std::string RecordJsonLine(const std::string& path, const SampleRecord& record);

}  // namespace tw::scoring
