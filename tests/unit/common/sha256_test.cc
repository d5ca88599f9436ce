#include "common/sha256.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <array>
#include <cstdio>
#include <fstream>
#include <iterator>
#include <string>

#include "tests/testing/status_matchers.h"
#include "tests/testing/unprivileged.h"

namespace tw {
namespace {

using ::testing::HasSubstr;
using ::tw::testing::StatusIs;

// FIPS 180-2 / NIST CSHS example messages.
TEST(Sha256HexTest, NistVectors) {
  EXPECT_EQ(Sha256Hex(""), "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855");
  EXPECT_EQ(Sha256Hex("abc"), "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad");
  EXPECT_EQ(Sha256Hex("abcdbcdecdefdefgefghfghighijhijkijkljklmklmnlmnomnopnopq"),
            "248d6a61d20638b8e5c026930c3e6039a33ce45964ff2167f6ecedd419db06c1");
  EXPECT_EQ(Sha256Hex("abcdefghbcdefghicdefghijdefghijkefghijklfghijklmghijklmnhijklmnoijklmnopjklm"
                      "nopqklmnopqrlmnopqrsmnopqrstnopqrstu"),
            "cf5b16a778af8380036ce59e7b0492370b249b11e8f07a51afac45037afee9d1");
}

TEST(Sha256HasherTest, OneMillionAInUnevenChunks) {
  // Sizes around SHA-256's 64-byte block, so updates start and end mid-block.
  const size_t kChunkSizes[] = {1, 63, 64, 65, 127, 4099, 7919};
  const std::string chunk(7919, 'a');
  Sha256Hasher hasher;
  size_t fed = 0;
  for (size_t i = 0; fed < 1000000; ++i) {
    const size_t take = std::min(kChunkSizes[i % std::size(kChunkSizes)], 1000000 - fed);
    hasher.Update(chunk.data(), take);
    fed += take;
  }
  EXPECT_EQ(hasher.FinishHex(), "cdc76e5c9914fb9281a1c7e284d73e67f1809a48a497200e046d39ccc7112cd0");
}

TEST(Sha256HasherTest, FinishReturnsRawDigest) {
  Sha256Hasher hasher;
  hasher.Update(std::string_view("ab"));
  hasher.Update(nullptr, 0);
  hasher.Update(std::string_view("c"));
  const std::array<uint8_t, 32> digest = hasher.Finish();
  EXPECT_EQ(digest[0], 0xba);
  EXPECT_EQ(digest[31], 0xad);
}

class Sha256FileTest : public ::testing::Test {
 protected:
  void SetUp() override {
    dir_ = ::testing::TempDir() + "tw_sha256_test_" + std::to_string(::getpid());
    // Searchable by others: the permission test reads from it as `nobody`.
    ASSERT_EQ(::mkdir(dir_.c_str(), 0755), 0);
  }
  void TearDown() override {
    std::remove(file_.c_str());
    ::rmdir(dir_.c_str());
  }
  std::string WriteFile(const std::string& content) {
    file_ = dir_ + "/data.bin";
    std::ofstream(file_, std::ios::binary) << content;
    return file_;
  }

  std::string dir_;
  std::string file_;
};

TEST_F(Sha256FileTest, LargeFileMatchesInMemoryHash) {
  // Several buffers plus a tail, so the last read is short.
  std::string content(3 * (1 << 20) + 12345, '\0');
  uint32_t state = 12345;
  for (char& c : content) {
    state = state * 1103515245 + 12345;
    c = static_cast<char>(state >> 24);
  }
  const std::string path = WriteFile(content);
  uint64_t bytes_read = 0;
  TW_ASSERT_OK_AND_ASSIGN(const std::string hex, Sha256FileHex(path, &bytes_read));
  EXPECT_EQ(hex, Sha256Hex(content));
  EXPECT_EQ(bytes_read, content.size());
}

TEST_F(Sha256FileTest, EmptyFile) {
  uint64_t bytes_read = 99;
  TW_ASSERT_OK_AND_ASSIGN(const std::string hex, Sha256FileHex(WriteFile(""), &bytes_read));
  EXPECT_EQ(hex, Sha256Hex(""));
  EXPECT_EQ(bytes_read, 0u);
}

TEST_F(Sha256FileTest, MissingFileIsNotFound) {
  const std::string path = dir_ + "/missing.bin";
  EXPECT_THAT(Sha256FileHex(path), StatusIs(StatusCode::kNotFound, HasSubstr(path)));
}

TEST_F(Sha256FileTest, DirectoryIsInvalidArgument) {
  EXPECT_THAT(Sha256FileHex(dir_), StatusIs(StatusCode::kInvalidArgument, HasSubstr(dir_)));
}

TEST_F(Sha256FileTest, UnreadableFileIsPermissionDenied) {
  const std::string path = WriteFile("secret");
  ASSERT_EQ(::chmod(path.c_str(), 0), 0);
  EXPECT_THAT(::tw::testing::RunUnprivileged([&] { return Sha256FileHex(path).status(); }),
              StatusIs(StatusCode::kPermissionDenied, HasSubstr(path)));
}

TEST(Sha256HexSyntaxTest, IsSha256Hex) {
  EXPECT_TRUE(IsSha256Hex(Sha256Hex("abc")));
  EXPECT_FALSE(IsSha256Hex(""));
  EXPECT_FALSE(IsSha256Hex(std::string(63, 'a')));
  EXPECT_FALSE(IsSha256Hex(std::string(65, 'a')));
  EXPECT_FALSE(IsSha256Hex(std::string(63, 'a') + "A"));
  EXPECT_FALSE(IsSha256Hex(std::string(63, 'a') + "g"));
}

TEST(Sha256HexSyntaxTest, IsHexPrefix) {
  EXPECT_TRUE(IsHexPrefix("0"));
  EXPECT_TRUE(IsHexPrefix("ba7816bf"));
  EXPECT_TRUE(IsHexPrefix(std::string(64, 'f')));
  EXPECT_FALSE(IsHexPrefix(""));
  EXPECT_FALSE(IsHexPrefix(std::string(65, 'f')));
  EXPECT_FALSE(IsHexPrefix("BA78"));
  EXPECT_FALSE(IsHexPrefix("ba 78"));
  EXPECT_FALSE(IsHexPrefix("xyz"));
}

}  // namespace
}  // namespace tw
