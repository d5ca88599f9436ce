#include "watch/names.h"

#include <gtest/gtest.h>

namespace tw::watch {
namespace {

TEST(IsTemporaryNameTest, TemporaryNames) {
  EXPECT_TRUE(IsTemporaryName(""));
  EXPECT_TRUE(IsTemporaryName(".epoch_1.pt"));
  EXPECT_TRUE(IsTemporaryName("epoch_1.pt.tmp"));
  EXPECT_TRUE(IsTemporaryName("epoch_1.pt.part"));
  EXPECT_FALSE(IsTemporaryName("epoch_1.pt"));
  EXPECT_FALSE(IsTemporaryName("tmp.pt"));
  EXPECT_FALSE(IsTemporaryName("epoch.tmp.pt"));
}

TEST(StepFromFileNameTest, LastRunOfDigits) {
  EXPECT_EQ(StepFromFileName("epoch_012.pt"), 12);
  EXPECT_EQ(StepFromFileName("step-4000.pth"), 4000);
  EXPECT_EQ(StepFromFileName("run2_step300.pt"), 300);
  EXPECT_EQ(StepFromFileName("final.pt"), std::nullopt);
  EXPECT_EQ(StepFromFileName(""), std::nullopt);
}

TEST(EscapeNameTest, PlainNamesAreKept) {
  EXPECT_EQ(EscapeName("epoch_012.pt"), "epoch_012.pt");
  EXPECT_EQ(EscapeName("modèle-日本.pt"), "modèle-日本.pt");
  EXPECT_EQ(EscapeName(""), "");
}

TEST(EscapeNameTest, ControlCharactersAreEscaped) {
  EXPECT_EQ(EscapeName("a\nb"), "a\\nb");
  EXPECT_EQ(EscapeName("a\tb\rc"), "a\\tb\\rc");
  EXPECT_EQ(EscapeName("\x1b[31mred"), "\\x1b[31mred");
  EXPECT_EQ(EscapeName(std::string("nul\0x", 5)), "nul\\x00x");
  EXPECT_EQ(EscapeName("del\x7f"), "del\\x7f");
}

TEST(EscapeNameTest, C1ControlsAreEscaped) {
  // U+009B is CSI: a terminal escape sequence on its own.
  EXPECT_EQ(EscapeName("a\xc2\x9b"
                       "31m"),
            "a\\xc2\\x9b31m");
  EXPECT_EQ(EscapeName("\xc2\xa0"), "\xc2\xa0");  // U+00A0 is printable.
}

TEST(EscapeNameTest, InvalidUtf8BytesAreEscaped) {
  EXPECT_EQ(EscapeName("bad\xff.pt"), "bad\\xff.pt");
  EXPECT_EQ(EscapeName("\xc3"), "\\xc3");                    // Truncated sequence.
  EXPECT_EQ(EscapeName("\xc0\xaf"), "\\xc0\\xaf");           // Overlong '/'.
  EXPECT_EQ(EscapeName("\xed\xa0\x80"), "\\xed\\xa0\\x80");  // Surrogate.
}

TEST(EscapeNameTest, QuoteAndBackslashAreEscaped) {
  EXPECT_EQ(EscapeName("a\"b"), "a\\\"b");
  EXPECT_EQ(EscapeName("a\\b"), "a\\\\b");
}

}  // namespace
}  // namespace tw::watch
