#include "common/glob.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <chrono>
#include <regex>
#include <string>
#include <vector>

#include "tests/testing/status_matchers.h"

namespace tw {
namespace {

using ::testing::HasSubstr;
using ::tw::testing::StatusIs;

struct MatchCase {
  const char* pattern;
  const char* text;
  bool matches;
};

const std::vector<MatchCase>& MatchTable() {
  static const auto* table = new std::vector<MatchCase>{
      {"", "", true},
      {"", "a", false},
      {"abc", "abc", true},
      {"abc", "abcd", false},
      {"abc", "ab", false},
      {"abc", "ABC", false},
      {"*", "", true},
      {"*", "anything/at all", true},
      {"resnet*", "resnet50", true},
      {"resnet*", "resnet", true},
      {"resnet*", "my-resnet50", false},
      {"*50", "resnet50", true},
      {"*net*", "resnet50", true},
      {"*net*", "resnt50", false},
      {"a*b*c", "aXbYc", true},
      {"a*b*c", "abc", true},
      {"a*b*c", "acb", false},
      {"a*/b", "a/x/y/b", true},
      {"**", "x", true},
      {"a**b", "ab", true},
      {"?", "a", true},
      {"?", "", false},
      {"?", "ab", false},
      {"??", "ab", true},
      {"a?c", "abc", true},
      {"a?c", "a/c", true},
      {"a?c", "ac", false},
      {"[abc]", "b", true},
      {"[abc]", "d", false},
      {"[a-c]x", "bx", true},
      {"[a-c]x", "dx", false},
      {"[!abc]", "d", true},
      {"[!abc]", "a", false},
      {"[^abc]", "d", true},
      {"[^abc]", "c", false},
      {"[]]", "]", true},
      {"[]a]", "a", true},
      {"[!]]", "]", false},
      {"[!]]", "x", true},
      {"[a-]", "-", true},
      {"[-a]", "-", true},
      {"[a-]", "b", false},
      {"[\\]]", "]", true},
      {"[\\-]", "-", true},
      {"[a\\-z]", "b", false},
      {"[a\\-z]", "-", true},
      {"[\\\\]", "\\", true},
      {"[.]", ".", true},
      {"[.]", "a", false},
      {"[[]", "[", true},
      {"[^^]", "^", false},
      {"[x^]", "^", true},
      {"[0-9][0-9]", "42", true},
      {"[0-9][0-9]", "4a", false},
      {"v[0-9].*", "v1.0", true},
      {"\\*", "*", true},
      {"\\*", "a", false},
      {"\\?", "?", true},
      {"\\[a]", "[a]", true},
      {"\\a", "a", true},
      {"a\\\\b", "a\\b", true},
      {"a.b", "a.b", true},
      {"a.b", "axb", false},
      {"a+b", "a+b", true},
      {"a+b", "aab", false},
      {"(a|b)", "(a|b)", true},
      {"(a|b)", "a", false},
      {"^a$", "^a$", true},
      {"a{2}", "a{2}", true},
      {"a{2}", "aa", false},
      {"$x", "$x", true},
      {"a/b", "a/b", true},
      {".hidden", ".hidden", true},
      {"*x", ".x", true},
      {"*.ckpt", "model.ckpt", true},
      {"*.ckpt", "modelXckpt", false},
      {"model-[0-9]*-final", "model-3-final", true},
      {"model-[0-9]*-final", "model-3abc-final", true},
      {"model-[0-9]*-final", "model-x-final", false},
      {"*a*a*a*b", "aaaab", true},
      {"*a*a*a*b", "aaab", true},
      {"*a*a*a*b", "aab", false},
      {"[!a-z]*", "Zeta", true},
      {"[!a-z]*", "zeta", false},
      {"#%&'!@~`-_=,;:<>\"", "#%&'!@~`-_=,;:<>\"", true},
  };
  return *table;
}

TEST(GlobMatchTest, Table) {
  for (const MatchCase& c : MatchTable()) {
    TW_EXPECT_OK(ValidateGlob(c.pattern));
    EXPECT_EQ(GlobMatch(c.pattern, c.text), c.matches)
        << "pattern '" << c.pattern << "' text '" << c.text << "'";
  }
}

TEST(GlobMatchTest, QuestionMarkMatchesOneCodePoint) {
  EXPECT_TRUE(GlobMatch("caf?", "café"));  // é is two bytes
  EXPECT_FALSE(GlobMatch("caf??", "café"));
  EXPECT_TRUE(GlobMatch("?", "\xF0\x9F\x98\x80"));  // U+1F600, four bytes
  EXPECT_TRUE(GlobMatch("*é", "café"));
  EXPECT_TRUE(GlobMatch("[é]", "é"));
  EXPECT_TRUE(GlobMatch("[à-ï]", "é"));
  EXPECT_FALSE(GlobMatch("[à-ï]", "e"));
  EXPECT_TRUE(GlobMatch("[!é]", "e"));
  EXPECT_FALSE(GlobMatch("[!é]", "é"));
  EXPECT_TRUE(GlobMatch("a?b", "a\nb"));  // no newline exception, as in PostgreSQL
}

TEST(GlobMatchTest, InvalidUtf8InTextCountsOneCharacterPerByte) {
  EXPECT_TRUE(GlobMatch("a?b", std::string("a\xFF") + "b"));
  EXPECT_TRUE(GlobMatch("a??b", "a\xC3(b"));  // a lead byte without its continuation, then '('
  EXPECT_FALSE(GlobMatch("a?b", "a\xC3(b"));
  EXPECT_TRUE(GlobMatch("*", "\xFF\xFE"));
  EXPECT_FALSE(GlobMatch("[a-z]", "\xFF"));
  EXPECT_TRUE(GlobMatch("[!a-z]", "\xFF"));
}

TEST(GlobMatchTest, PathologicalPatternIsFast) {
  const std::string text(10000, 'a');
  const auto start = std::chrono::steady_clock::now();
  EXPECT_FALSE(GlobMatch("a*a*a*a*a*a*a*b", text));
  EXPECT_TRUE(GlobMatch("a*a*a*a*a*a*a*a", text));
  EXPECT_FALSE(GlobMatch("*a*a*a*a*a*a*a*a*a*a*a*a*a*a*a*a*a*a*a*a*?b", text));
  const auto elapsed = std::chrono::steady_clock::now() - start;
  EXPECT_LT(elapsed, std::chrono::seconds(1));
}

TEST(ValidateGlobTest, MalformedPatterns) {
  EXPECT_THAT(ValidateGlob("abc["), StatusIs(StatusCode::kInvalidArgument,
                                             "invalid glob pattern \"abc[\": unterminated '['"));
  EXPECT_THAT(ValidateGlob("[abc"),
              StatusIs(StatusCode::kInvalidArgument, HasSubstr("unterminated '['")));
  EXPECT_THAT(ValidateGlob("[]"),
              StatusIs(StatusCode::kInvalidArgument, HasSubstr("unterminated")));
  EXPECT_THAT(ValidateGlob("[!]"),
              StatusIs(StatusCode::kInvalidArgument, HasSubstr("unterminated")));
  EXPECT_THAT(ValidateGlob("abc\\"), StatusIs(StatusCode::kInvalidArgument,
                                              "invalid glob pattern \"abc\\\": trailing '\\'"));
  EXPECT_THAT(ValidateGlob("[a\\"),
              StatusIs(StatusCode::kInvalidArgument, HasSubstr("trailing '\\'")));
  EXPECT_THAT(ValidateGlob("[z-a]"),
              StatusIs(StatusCode::kInvalidArgument, HasSubstr("character range z-a is reversed")));
  EXPECT_THAT(ValidateGlob("a\xFF"),
              StatusIs(StatusCode::kInvalidArgument, HasSubstr("not valid UTF-8")));
  EXPECT_THAT(ValidateGlob("[\xC3]"),
              StatusIs(StatusCode::kInvalidArgument, HasSubstr("not valid UTF-8")));
  // Overlong encoding of '/' and an encoded surrogate.
  EXPECT_THAT(ValidateGlob("\xC0\xAF"), StatusIs(StatusCode::kInvalidArgument, HasSubstr("UTF-8")));
  EXPECT_THAT(ValidateGlob("\xED\xA0\x80"),
              StatusIs(StatusCode::kInvalidArgument, HasSubstr("UTF-8")));
}

TEST(GlobMatchTest, MalformedPatternMatchesNothing) {
  EXPECT_FALSE(GlobMatch("abc[", "abc["));
  EXPECT_FALSE(GlobMatch("abc\\", "abc\\"));
  EXPECT_FALSE(GlobMatch("abc\\", "abc"));
  EXPECT_FALSE(GlobMatch("[z-a]", "m"));
}

TEST(GlobToPostgresRegexTest, Translations) {
  struct Case {
    const char* pattern;
    const char* regex;
  };
  for (const Case& c : std::initializer_list<Case>{
           {"", "^$"},
           {"resnet*", "^resnet.*$"},
           {"a?c", "^a.c$"},
           {"a**b", "^a.*b$"},
           {"v1.0+(x)", "^v1\\.0\\+\\(x\\)$"},
           {"^$|{}", "^\\^\\$\\|\\{\\}$"},
           {"\\*\\?\\[", "^\\*\\?\\[$"},
           {"a\\\\b", "^a\\\\b$"},
           {"[abc]", "^[abc]$"},
           {"[a-z0-9]", "^[a-z0-9]$"},
           {"[!abc]", "^[^abc]$"},
           {"[^a-c]", "^[^a-c]$"},
           {"[]a]", "^[\\]a]$"},
           {"[a-]", "^[a\\-]$"},
           {"[\\^x]", "^[\\^x]$"},
           {"[[:]", "^[\\[:]$"},
           {"[\\\\]", "^[\\\\]$"},
           {"[.*]", "^[.*]$"},
           {"café*", "^café.*$"},
           {"a/b-c_d", "^a/b-c_d$"},
       }) {
    TW_ASSERT_OK_AND_ASSIGN(const std::string regex, GlobToPostgresRegex(c.pattern));
    EXPECT_EQ(regex, c.regex) << "pattern '" << c.pattern << "'";
  }
}

TEST(GlobToPostgresRegexTest, MalformedPatternsAreErrors) {
  EXPECT_THAT(GlobToPostgresRegex("model["),
              StatusIs(StatusCode::kInvalidArgument, HasSubstr("\"model[\"")));
  EXPECT_THAT(GlobToPostgresRegex("model\\"),
              StatusIs(StatusCode::kInvalidArgument, HasSubstr("trailing")));
}

// PostgreSQL is not available here, so check the translation with std::regex: the output only uses
// constructs that ECMAScript and PostgreSQL AREs agree on, and must accept exactly what GlobMatch
// accepts. Only ASCII texts, since std::regex works on bytes rather than code points.
TEST(GlobToPostgresRegexTest, AgreesWithGlobMatchUnderStdRegex) {
  std::vector<std::string> patterns;
  std::vector<std::string> texts;
  for (const MatchCase& c : MatchTable()) {
    patterns.push_back(c.pattern);
    texts.push_back(c.text);
  }
  for (const char* extra :
       {"",  "a", "b", "ab",  "abc",  "a-b", "\\", "]", "[", "^",     "$",       ".",
        "*", "?", "-", "x.y", "a\\b", "{}",  "(",  ")", "|", "aXbYc", "resnet50"}) {
    texts.push_back(extra);
  }
  int checked = 0;
  for (const std::string& pattern : patterns) {
    TW_ASSERT_OK_AND_ASSIGN(const std::string regex_text, GlobToPostgresRegex(pattern));
    std::regex re;
    try {
      re = std::regex(regex_text, std::regex::ECMAScript);
    } catch (const std::regex_error& e) {
      ADD_FAILURE() << "pattern '" << pattern << "' -> regex '" << regex_text
                    << "' does not compile: " << e.what();
      continue;
    }
    for (const std::string& text : texts) {
      // regex_search, not regex_match, so that the anchors are what enforces a whole match.
      EXPECT_EQ(std::regex_search(text, re), GlobMatch(pattern, text))
          << "pattern '" << pattern << "' regex '" << regex_text << "' text '" << text << "'";
      ++checked;
    }
  }
  EXPECT_GT(checked, 5000);
}

TEST(HasGlobMetaTest, DetectsMetacharacters) {
  EXPECT_FALSE(HasGlobMeta(""));
  EXPECT_FALSE(HasGlobMeta("resnet50"));
  EXPECT_FALSE(HasGlobMeta("a.b+c(d)|^$]"));
  EXPECT_TRUE(HasGlobMeta("resnet*"));
  EXPECT_TRUE(HasGlobMeta("a?c"));
  EXPECT_TRUE(HasGlobMeta("[ab]"));
  EXPECT_TRUE(HasGlobMeta("a\\b"));
}

TEST(GlobLiteralPrefixTest, StopsAtTheFirstWildcardAndUnescapes) {
  EXPECT_EQ(GlobLiteralPrefix("resnet50*"), "resnet50");
  EXPECT_EQ(GlobLiteralPrefix("run-42/epoch_?.pt"), "run-42/epoch_");
  EXPECT_EQ(GlobLiteralPrefix("a\\*b*"), "a*b");
  EXPECT_EQ(GlobLiteralPrefix("[ab]c"), "");
  EXPECT_EQ(GlobLiteralPrefix("exact"), "exact");
  EXPECT_EQ(GlobLiteralPrefix(""), "");
  EXPECT_EQ(GlobLiteralPrefix("trailing\\"), "trailing");
}

}  // namespace
}  // namespace tw
