#include "watch/torch_file.h"

#include <fcntl.h>
#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <unistd.h>

#include <filesystem>
#include <random>

#include "tests/testing/status_matchers.h"
#include "tests/testing/temp_dir.h"
#include "tests/unit/watch/zip_fixtures.h"

namespace tw::watch {
namespace {

using ::testing::HasSubstr;
using testing::StatusIs;

void PutLe16(std::string& s, size_t at, uint16_t v) {
  s[at] = static_cast<char>(v & 0xff);
  s[at + 1] = static_cast<char>(v >> 8);
}

std::string Le(uint64_t v, int bytes) {
  std::string out;
  for (int i = 0; i < bytes; ++i) out.push_back(static_cast<char>((v >> (8 * i)) & 0xff));
  return out;
}

class TorchFileTest : public ::testing::Test {
 protected:
  StatusOr<TorchFileCheck> InspectBytes(const std::string& bytes) {
    const std::string path = dir_.Sub("file.pt");
    testing::WriteTestFile(path, bytes);
    return InspectTorchFile(path);
  }
  testing::TempDir dir_;
};

TEST_F(TorchFileTest, TorchScriptArchive) {
  const std::string path = dir_.Sub("ts.pt");
  ASSERT_TRUE(testing::WriteZip(path, testing::TorchScriptEntries()));
  TW_ASSERT_OK_AND_ASSIGN(TorchFileCheck check, InspectTorchFile(path));
  EXPECT_EQ(check.kind, TorchFileKind::kTorchScript) << check.reason;
  EXPECT_EQ(check.zip_entries, 5u);
  EXPECT_EQ(check.archive_prefix, "model");
  EXPECT_EQ(check.reason, "TorchScript archive 'model': 5 entries");
  EXPECT_EQ(check.size, testing::ReadTestFile(path).size());
  EXPECT_GT(check.mtime_ns, 0);
}

TEST_F(TorchFileTest, StateDictArchive) {
  const std::string path = dir_.Sub("sd.pt");
  ASSERT_TRUE(testing::WriteZip(path, testing::StateDictEntries()));
  TW_ASSERT_OK_AND_ASSIGN(TorchFileCheck check, InspectTorchFile(path));
  EXPECT_EQ(check.kind, TorchFileKind::kStateDictZip) << check.reason;
  EXPECT_EQ(check.archive_prefix, "archive");
  EXPECT_EQ(check.zip_entries, 4u);
}

TEST_F(TorchFileTest, LegacyPickle) {
  TW_ASSERT_OK_AND_ASSIGN(TorchFileCheck check, InspectBytes(testing::LegacyPickleBytes()));
  EXPECT_EQ(check.kind, TorchFileKind::kLegacyPickle) << check.reason;
}

TEST_F(TorchFileTest, PickleWithoutMagicIsNotTorch) {
  TW_ASSERT_OK_AND_ASSIGN(TorchFileCheck check, InspectBytes(std::string("\x80\x02K\x05.", 5)));
  EXPECT_EQ(check.kind, TorchFileKind::kNotTorch);
  EXPECT_THAT(check.reason, HasSubstr("magic number"));
}

TEST_F(TorchFileTest, EmptyFile) {
  TW_ASSERT_OK_AND_ASSIGN(TorchFileCheck check, InspectBytes(""));
  EXPECT_EQ(check.kind, TorchFileKind::kEmpty);
  EXPECT_EQ(TorchFileKindName(check.kind), "empty");
}

TEST_F(TorchFileTest, TruncatedZipIsIncomplete) {
  const std::string bytes = testing::ZipBytes(dir_, testing::TorchScriptEntries());
  ASSERT_FALSE(bytes.empty());
  for (size_t cut :
       {size_t{2}, size_t{40}, bytes.size() / 2, bytes.size() - 10, bytes.size() - 1}) {
    TW_ASSERT_OK_AND_ASSIGN(TorchFileCheck check, InspectBytes(bytes.substr(0, cut)));
    EXPECT_EQ(check.kind, TorchFileKind::kIncompleteZip)
        << "cut at " << cut << ": " << check.reason;
  }
}

TEST_F(TorchFileTest, CentralDirectoryPastTheRecordIsIncomplete) {
  std::string bytes = testing::ZipBytes(dir_, testing::StateDictEntries());
  const size_t eocd = bytes.size() - 22;
  ASSERT_EQ(bytes.substr(eocd, 4), std::string("PK\5\6"));
  bytes.replace(eocd + 16, 4, Le(bytes.size() + 1000, 4));  // CD offset past the end.
  TW_ASSERT_OK_AND_ASSIGN(TorchFileCheck check, InspectBytes(bytes));
  EXPECT_EQ(check.kind, TorchFileKind::kIncompleteZip) << check.reason;
}

TEST_F(TorchFileTest, RandomBytesAreNotTorch) {
  std::mt19937 random(42);
  std::string bytes(4096, '\0');
  for (char& c : bytes) c = static_cast<char>(random() & 0xff);
  bytes[0] = 'x';
  TW_ASSERT_OK_AND_ASSIGN(TorchFileCheck check, InspectBytes(bytes));
  EXPECT_EQ(check.kind, TorchFileKind::kNotTorch);
}

TEST_F(TorchFileTest, OtherZipIsNotTorch) {
  const std::string path = dir_.Sub("other.pt");
  ASSERT_TRUE(testing::WriteZip(path, {{"hello.txt", "hi"}, {"docs/readme.md", "x"}}));
  TW_ASSERT_OK_AND_ASSIGN(TorchFileCheck check, InspectTorchFile(path));
  EXPECT_EQ(check.kind, TorchFileKind::kNotTorch) << check.reason;
  ASSERT_TRUE(testing::WriteZip(path, {{"pkg/readme.md", "x"}}));
  TW_ASSERT_OK_AND_ASSIGN(check, InspectTorchFile(path));
  EXPECT_EQ(check.kind, TorchFileKind::kNotTorch) << check.reason;
  EXPECT_THAT(check.reason, HasSubstr("neither code/"));
}

// torch.jit.save deflates its code (kilobytes) but stores tensors; compressed entries that
// declare more than kMaxInflatedBytes are a zip bomb (tests/security/torch: 4 MiB declaring
// 4 GiB), refused before the evaluator could allocate what they declare.
TEST_F(TorchFileTest, CompressedEntriesMayNotInflatePastTheLimit) {
  const std::string path = dir_.Sub("bomb.pt");
  testing::ZipEntries entries = testing::TorchScriptEntries();
  entries.emplace_back("model/data/1", std::string(kMaxInflatedBytes / 2, '\0'));
  ASSERT_TRUE(testing::WriteZip(path, entries, ZIP_CM_DEFLATE));
  TW_ASSERT_OK_AND_ASSIGN(TorchFileCheck check, InspectTorchFile(path));
  EXPECT_EQ(check.kind, TorchFileKind::kTorchScript) << "deflated code is normal: " << check.reason;
  entries.emplace_back("model/data/2", std::string(kMaxInflatedBytes / 2 + 1, '\0'));
  ASSERT_TRUE(testing::WriteZip(path, entries, ZIP_CM_DEFLATE));
  ASSERT_LT(std::filesystem::file_size(path), 1u << 20) << "the fixture must really be deflated";
  TW_ASSERT_OK_AND_ASSIGN(check, InspectTorchFile(path));
  EXPECT_EQ(check.kind, TorchFileKind::kNotTorch) << check.reason;
  EXPECT_THAT(check.reason, HasSubstr("zip bomb"));
  // The same entries stored are a TorchScript archive: only declared inflation is refused.
  ASSERT_TRUE(testing::WriteZip(path, entries));
  TW_ASSERT_OK_AND_ASSIGN(check, InspectTorchFile(path));
  EXPECT_EQ(check.kind, TorchFileKind::kTorchScript) << check.reason;
}

// Found by fuzz/torch_file_fuzzer.cc: end records that libzip finds pointing past the end of
// the file (its "Seek error: File too large") were an UnknownError, as if the file could not be
// read, instead of a verdict on its content.
TEST_F(TorchFileTest, EndRecordsPointingPastTheFileAreIncomplete) {
  const std::string bytes(
      "\x50\x4b\x03\x04\x50\x4b\x06\x07\x00\x00\x00\x23\x00\x4b\x00\xb0"
      "\xff\xff\xff\x80\x02\x8a\x0a\x78\x50\x4b\x05\x06\x00\x00\xb5\xff"
      "\xff\xff\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00",
      46);
  TW_ASSERT_OK_AND_ASSIGN(TorchFileCheck check, InspectBytes(bytes));
  EXPECT_EQ(check.kind, TorchFileKind::kIncompleteZip) << check.reason;
}

TEST_F(TorchFileTest, TooManyDeclaredEntriesAreRefused) {
  // A zip64 end record claiming a million entries, in front of a minimal archive tail.
  std::string bytes = "PK\3\4" + std::string(60, '\0');
  const uint64_t zip64_offset = bytes.size();
  bytes += "PK\6\6" + Le(44, 8) + Le(45, 2) + Le(45, 2) + Le(0, 4) + Le(0, 4) + Le(1'000'000, 8) +
           Le(1'000'000, 8) + Le(46, 8) + Le(0, 8);
  bytes += "PK\6\7" + Le(0, 4) + Le(zip64_offset, 8) + Le(1, 4);
  bytes += "PK\5\6" + Le(0, 2) + Le(0, 2) + Le(0xffff, 2) + Le(0xffff, 2) + Le(0xffffffff, 4) +
           Le(0xffffffff, 4) + Le(0, 2);
  TW_ASSERT_OK_AND_ASSIGN(TorchFileCheck check, InspectBytes(bytes));
  EXPECT_EQ(check.kind, TorchFileKind::kNotTorch);
  EXPECT_THAT(check.reason, HasSubstr("1000000 entries"));
}

TEST_F(TorchFileTest, HugeCentralDirectoryIsRefused) {
  std::string bytes = "PK\3\4" + std::string(60, '\0');
  bytes += "PK\5\6" + Le(0, 2) + Le(0, 2) + Le(10, 2) + Le(10, 2) + Le(0x7fffffff, 4) + Le(4, 4) +
           Le(0, 2);
  TW_ASSERT_OK_AND_ASSIGN(TorchFileCheck check, InspectBytes(bytes));
  EXPECT_EQ(check.kind, TorchFileKind::kNotTorch);
  EXPECT_THAT(check.reason, HasSubstr("central directory of"));
}

TEST_F(TorchFileTest, CommentFullOfEndSignaturesIsRefused) {
  std::string bytes = testing::ZipBytes(dir_, testing::StateDictEntries());
  std::string comment;
  for (int i = 0; i < kMaxEndRecordCandidates + 4; ++i) comment += "PK\5\6" + std::string(18, 'g');
  PutLe16(bytes, bytes.size() - 2, static_cast<uint16_t>(comment.size()));
  bytes += comment;
  TW_ASSERT_OK_AND_ASSIGN(TorchFileCheck check, InspectBytes(bytes));
  EXPECT_EQ(check.kind, TorchFileKind::kNotTorch);
  EXPECT_THAT(check.reason, HasSubstr("end-of-central-directory signatures"));
}

TEST_F(TorchFileTest, ShortCommentIsStillAccepted) {
  std::string bytes = testing::ZipBytes(dir_, testing::StateDictEntries());
  const std::string comment = "saved by a test";
  PutLe16(bytes, bytes.size() - 2, static_cast<uint16_t>(comment.size()));
  bytes += comment;
  TW_ASSERT_OK_AND_ASSIGN(TorchFileCheck check, InspectBytes(bytes));
  EXPECT_EQ(check.kind, TorchFileKind::kStateDictZip) << check.reason;
}

TEST_F(TorchFileTest, FdOffsetIsUnchanged) {
  const std::string path = dir_.Sub("ts.pt");
  ASSERT_TRUE(testing::WriteZip(path, testing::TorchScriptEntries()));
  int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
  ASSERT_GE(fd, 0);
  ASSERT_EQ(::lseek(fd, 7, SEEK_SET), 7);
  TW_ASSERT_OK_AND_ASSIGN(TorchFileCheck check, InspectTorchFd(fd, "ts.pt"));
  EXPECT_EQ(check.kind, TorchFileKind::kTorchScript);
  EXPECT_EQ(::lseek(fd, 0, SEEK_CUR), 7);
  ::close(fd);
}

TEST_F(TorchFileTest, ReadErrors) {
  EXPECT_THAT(InspectTorchFile(dir_.Sub("missing.pt")),
              StatusIs(StatusCode::kNotFound, HasSubstr("missing.pt")));
  EXPECT_THAT(InspectTorchFile(dir_.path()),
              StatusIs(StatusCode::kInvalidArgument, HasSubstr("not a regular file")));
}

TEST(TorchFileKindNameTest, Names) {
  EXPECT_EQ(TorchFileKindName(TorchFileKind::kIncompleteZip), "incomplete_zip");
  EXPECT_EQ(TorchFileKindName(TorchFileKind::kTorchScript), "torchscript");
  EXPECT_EQ(TorchFileKindName(TorchFileKind::kStateDictZip), "state_dict_zip");
  EXPECT_EQ(TorchFileKindName(TorchFileKind::kLegacyPickle), "legacy_pickle");
  EXPECT_EQ(TorchFileKindName(TorchFileKind::kNotTorch), "not_torch");
}

}  // namespace
}  // namespace tw::watch
