#include "scoring/records.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <cmath>
#include <limits>
#include <string>
#include <vector>

#include "common/sha256.h"
#include "tests/testing/status_matchers.h"

namespace tw::scoring {
namespace {

using ::testing::HasSubstr;
using ::tw::testing::StatusIs;

SampleRecord Make(std::array<int16_t, 5> top5, bool correct, bool correct5, bool excluded,
                  float true_prob) {
  SampleRecord r;
  r.top5 = top5;
  r.correct = correct;
  r.correct5 = correct5;
  r.excluded = excluded;
  r.true_prob = true_prob;
  return r;
}

std::vector<SampleRecord> Samples() {
  const float nan = std::numeric_limits<float>::quiet_NaN();
  return {
      Make({1, 2, 3, 4, 5}, true, true, false, 0.75f),
      Make({999, 0, 500, 32767, 7}, false, true, false, 1e-30f),
      Make({2, 1, 0, -1, -1}, false, false, false, 0.0f),
      Make({10, 11, 12, 13, 14}, false, false, true, nan),
      Make({10, 11, 12, 13, 14}, false, true, false, nan),
  };
}

TEST(RecordsTest, RoundTrip) {
  const std::vector<SampleRecord> records = Samples();
  const std::string encoded = EncodeRecords(records);
  EXPECT_EQ(encoded.size(), 16u + 16u * records.size());
  TW_ASSERT_OK_AND_ASSIGN(std::vector<SampleRecord> decoded, DecodeRecords(encoded));
  EXPECT_EQ(decoded, records);
  EXPECT_EQ(EncodeRecords(decoded), encoded);

  TW_ASSERT_OK_AND_ASSIGN(std::vector<SampleRecord> empty, DecodeRecords(EncodeRecords({})));
  EXPECT_TRUE(empty.empty());
}

// Pins the documented layout byte by byte.
TEST(RecordsTest, ExactLayout) {
  const std::string encoded = EncodeRecords({Make({1, 258, -1, 0, 0}, true, true, false, 1.0f)});
  const std::string expected = std::string("TWPR") + std::string("\x01\x00\x00\x00", 4) +
                               std::string("\x01\x00\x00\x00\x00\x00\x00\x00", 8) +
                               // top5: 1, 258 = 0x0102, -1 = 0xffff, 0, 0.
                               std::string("\x01\x00\x02\x01\xff\xff\x00\x00\x00\x00", 10) +
                               // flags = correct | correct5 = 3; reserved 0.
                               std::string("\x03\x00", 2) +
                               // 1.0f = 0x3f800000, little-endian.
                               std::string("\x00\x00\x80\x3f", 4);
  EXPECT_EQ(encoded, expected);
}

TEST(RecordsTest, DigestIsStableSha256OfTheBytes) {
  // sha256(b"TWPR" + struct.pack("<IQ", 1, 0)), computed with Python's hashlib.
  EXPECT_EQ(RecordsDigest(EncodeRecords({})),
            "5cabfd2b863b338d1e4ab71b32703757da0a7ba0cc328fc2baa02eb2bd5b5cc1");
  const std::string a = EncodeRecords(Samples());
  EXPECT_EQ(RecordsDigest(a), Sha256Hex(a));
  EXPECT_EQ(RecordsDigest(a), RecordsDigest(EncodeRecords(Samples())));
  std::vector<SampleRecord> changed = Samples();
  changed[1].true_prob = std::nextafter(changed[1].true_prob, 1.0f);  // One ulp.
  EXPECT_NE(RecordsDigest(EncodeRecords(changed)), RecordsDigest(a));
}

TEST(RecordsTest, DecodeIsStrict) {
  const std::string good = EncodeRecords(Samples());
  auto expect_loss = [](std::string bytes, const std::string& what) {
    EXPECT_THAT(DecodeRecords(bytes), StatusIs(StatusCode::kDataLoss, HasSubstr(what)));
  };
  expect_loss("", "truncated header");
  expect_loss(good.substr(0, 15), "truncated header");
  expect_loss("TWPX" + good.substr(4), "bad magic");
  std::string v2 = good;
  v2[4] = 2;
  expect_loss(v2, "unsupported version 2");
  expect_loss(good + "x", "length mismatch");
  expect_loss(good.substr(0, good.size() - 16), "length mismatch");
  std::string huge = good;
  huge[15] = '\x80';  // Count 2^63 + 5: must not overflow into a match.
  expect_loss(huge, "length mismatch");

  const size_t r1 = 16 + 16;  // Second record.
  std::string bad = good;
  bad[r1 + 10] = 8;
  expect_loss(bad, "record 1: unknown flag bits 8");
  bad = good;
  bad[r1 + 11] = 1;
  expect_loss(bad, "record 1: reserved byte");
  bad = good;
  bad[r1 + 0] = '\xfe';
  bad[r1 + 1] = '\xff';  // -2
  expect_loss(bad, "record 1: top5 class -2");
  bad = good;
  bad[r1 + 10] = 4 | 2;
  expect_loss(bad, "record 1: excluded sample is marked correct");
  bad = good;
  bad[r1 + 10] = 1;
  expect_loss(bad, "record 1: correct but not correct5");
}

TEST(RecordsTest, CsvRows) {
  EXPECT_EQ(RecordCsvHeader(),
            "path,pred1,pred2,pred3,pred4,pred5,correct,correct5,excluded,true_prob\n");
  EXPECT_EQ(RecordCsvRow("val/n01440764/a.JPEG", Make({1, 2, 3, 4, 5}, true, true, false, 0.1f)),
            "val/n01440764/a.JPEG,1,2,3,4,5,1,1,0,0.1\n");
  const float nan = std::numeric_limits<float>::quiet_NaN();
  EXPECT_EQ(RecordCsvRow("a,b \"c\".png", Make({2, 1, 0, -1, -1}, false, false, true, nan)),
            "\"a,b \"\"c\"\".png\",2,1,0,,,0,0,1,\n");
  EXPECT_EQ(RecordCsvRow("x", Make({0, 1, 2, 3, 4}, false, true, false, 1e-30f)),
            "x,0,1,2,3,4,0,1,0,1e-30\n");
}

TEST(RecordsTest, JsonLines) {
  EXPECT_EQ(RecordJsonLine("val/a.JPEG", Make({1, 2, 3, 4, 5}, true, true, false, 0.1f)),
            "{\"path\":\"val/a.JPEG\",\"top5\":[1,2,3,4,5],\"correct\":true,\"correct5\":true,"
            "\"excluded\":false,\"true_prob\":0.1}\n");
  const float nan = std::numeric_limits<float>::quiet_NaN();
  EXPECT_EQ(RecordJsonLine("q\"\xff.png", Make({2, 1, 0, -1, -1}, false, false, true, nan)),
            "{\"path\":\"q\\\"\xef\xbf\xbd.png\",\"top5\":[2,1,0],\"correct\":false,"
            "\"correct5\":false,\"excluded\":true,\"true_prob\":null}\n");
}

}  // namespace
}  // namespace tw::scoring
