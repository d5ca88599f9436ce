#include "common/csv.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <algorithm>
#include <string>
#include <vector>

#include "tests/testing/status_matchers.h"

namespace tw {
namespace {

using ::testing::ElementsAre;
using ::testing::Eq;
using ::testing::Field;
using ::tw::testing::StatusIs;

using Fields = std::vector<std::string>;

auto Record(Fields fields, int line) {
  return ::testing::AllOf(Field(&CsvRecord::fields, Eq(fields)), Field(&CsvRecord::line, line));
}

void ExpectError(std::string_view text, std::string_view expected_message) {
  EXPECT_THAT(ParseCsv(text, "in.csv"),
              StatusIs(StatusCode::kInvalidArgument, Eq(std::string(expected_message))))
      << "text: " << ::testing::PrintToString(std::string(text));
}

TEST(ParseCsvTest, SimpleRecords) {
  TW_ASSERT_OK_AND_ASSIGN(auto records, ParseCsv("a,b,c\n1,2,3\n", "in.csv"));
  EXPECT_THAT(records, ElementsAre(Record({"a", "b", "c"}, 1), Record({"1", "2", "3"}, 2)));
}

TEST(ParseCsvTest, EmptyInput) {
  TW_ASSERT_OK_AND_ASSIGN(auto records, ParseCsv("", "in.csv"));
  EXPECT_TRUE(records.empty());
  TW_ASSERT_OK_AND_ASSIGN(auto only_bom, ParseCsv("\xef\xbb\xbf", "in.csv"));
  EXPECT_TRUE(only_bom.empty());
}

TEST(ParseCsvTest, FinalLineWithoutNewline) {
  TW_ASSERT_OK_AND_ASSIGN(auto records, ParseCsv("a,b\nc,d", "in.csv"));
  EXPECT_THAT(records, ElementsAre(Record({"a", "b"}, 1), Record({"c", "d"}, 2)));
}

TEST(ParseCsvTest, CrlfLineEnds) {
  TW_ASSERT_OK_AND_ASSIGN(auto records, ParseCsv("a,b\r\n\"c\",d\r\n\r\ne,f\r\n", "in.csv"));
  EXPECT_THAT(records,
              ElementsAre(Record({"a", "b"}, 1), Record({"c", "d"}, 2), Record({"e", "f"}, 4)));
}

TEST(ParseCsvTest, BomIsSkippedOnlyAtStart) {
  TW_ASSERT_OK_AND_ASSIGN(auto records, ParseCsv("\xef\xbb\xbf"
                                                 "a,b\n\xef\xbb\xbf"
                                                 "c\n",
                                                 "in.csv"));
  EXPECT_THAT(records, ElementsAre(Record({"a", "b"}, 1), Record({"\xef\xbb\xbf"
                                                                  "c"},
                                                                 2)));
}

TEST(ParseCsvTest, EmptyLinesSkippedButCounted) {
  TW_ASSERT_OK_AND_ASSIGN(auto records, ParseCsv("\n\na\n\n\nb\n\n", "in.csv"));
  EXPECT_THAT(records, ElementsAre(Record({"a"}, 3), Record({"b"}, 6)));
}

TEST(ParseCsvTest, EmptyFields) {
  TW_ASSERT_OK_AND_ASSIGN(auto records, ParseCsv("a,,b\na,b,\n,\n\"\"\n", "in.csv"));
  EXPECT_THAT(records, ElementsAre(Record({"a", "", "b"}, 1), Record({"a", "b", ""}, 2),
                                   Record({"", ""}, 3), Record({""}, 4)));
  TW_ASSERT_OK_AND_ASSIGN(auto at_eof, ParseCsv("a,", "in.csv"));
  EXPECT_THAT(at_eof, ElementsAre(Record({"a", ""}, 1)));
}

TEST(ParseCsvTest, QuotedFields) {
  TW_ASSERT_OK_AND_ASSIGN(auto records,
                          ParseCsv("\"a,b\",\"say \"\"hi\"\"\",\"\",\" x \"\n", "in.csv"));
  EXPECT_THAT(records, ElementsAre(Record({"a,b", "say \"hi\"", "", " x "}, 1)));
}

TEST(ParseCsvTest, NewlinesInsideQuotesKeepLaterLineNumbers) {
  TW_ASSERT_OK_AND_ASSIGN(
      auto records,
      ParseCsv("id,note\n1,\"two\nlines\"\n2,\"crlf\r\ninside\r\nx\"\r\n3,\"\r\"\n", "in.csv"));
  EXPECT_THAT(records,
              ElementsAre(Record({"id", "note"}, 1), Record({"1", "two\nlines"}, 2),
                          Record({"2", "crlf\r\ninside\r\nx"}, 4), Record({"3", "\r"}, 7)));
}

TEST(ParseCsvTest, SpacesAndUtf8AreKept) {
  TW_ASSERT_OK_AND_ASSIGN(auto records, ParseCsv(" a , b\xc3\xa9\xf0\x9f\x98\x80\n", "in.csv"));
  EXPECT_THAT(records, ElementsAre(Record({" a ", " b\xc3\xa9\xf0\x9f\x98\x80"}, 1)));
}

TEST(ParseCsvTest, Errors) {
  ExpectError("a\n\"b,c\nd\n", "in.csv:2: unterminated quoted field");
  ExpectError("x\nab\"c\n", "in.csv:2: quote inside an unquoted field");
  ExpectError("\"ab\"c,d\n", "in.csv:1: unexpected character after closing quote");
  ExpectError("\"ab\" ,d\n", "in.csv:1: unexpected character after closing quote");
  ExpectError("a\n\"x\ny\"z\n", "in.csv:3: unexpected character after closing quote");
  ExpectError(std::string_view("a,b\nc\0d\n", 8), "in.csv:2: NUL byte");
  ExpectError(std::string_view("\"a\0\"\n", 5), "in.csv:1: NUL byte");
  ExpectError("a\rb\n", "in.csv:1: CR not followed by LF");
  ExpectError("a\n\r", "in.csv:2: CR not followed by LF");
  ExpectError("a,b\r", "in.csv:1: CR not followed by LF");
  ExpectError("a\nb\xff\n", "in.csv:2: invalid UTF-8");
  ExpectError("\"\xc0\x80\"", "in.csv:1: invalid UTF-8");
  ExpectError("a\xe2\x82", "in.csv:1: invalid UTF-8");
}

TEST(CsvEscapeFieldTest, QuotesOnlyWhenNeeded) {
  EXPECT_EQ(CsvEscapeField(""), "");
  EXPECT_EQ(CsvEscapeField("plain"), "plain");
  EXPECT_EQ(CsvEscapeField("in side"), "in side");
  EXPECT_EQ(CsvEscapeField("\xc3\xa9"), "\xc3\xa9");
  EXPECT_EQ(CsvEscapeField("a,b"), "\"a,b\"");
  EXPECT_EQ(CsvEscapeField("say \"hi\""), "\"say \"\"hi\"\"\"");
  EXPECT_EQ(CsvEscapeField("a\nb"), "\"a\nb\"");
  EXPECT_EQ(CsvEscapeField("a\rb"), "\"a\rb\"");
  EXPECT_EQ(CsvEscapeField(" lead"), "\" lead\"");
  EXPECT_EQ(CsvEscapeField("trail "), "\"trail \"");
  EXPECT_EQ(CsvEscapeField("\ttab"), "\"\ttab\"");
  EXPECT_EQ(CsvEscapeField("\xef\xbb\xbfx"), "\"\xef\xbb\xbfx\"");
}

TEST(CsvLineTest, JoinsWithNewline) {
  EXPECT_EQ(CsvLine({"a", "b,c", ""}), "a,\"b,c\",\n");
  EXPECT_EQ(CsvLine({""}), "\"\"\n");
  EXPECT_EQ(CsvLine({"", ""}), ",\n");
  EXPECT_EQ(CsvLine({}), "\n");
}

TEST(CsvRoundTripTest, WriterOutputParsesBack) {
  const std::vector<Fields> rows = {
      {"id", "name", "note"},
      {"1", "comma, inside", "quote \" inside"},
      {"2", "\"\"", "multi\nline\r\nfield"},
      {"3", " spaced ", ""},
      {""},
      {"", ""},
      {"\xef\xbb\xbf"
       "bom",
       "\xf0\x9f\x98\x80", "\r"},
      {"last", ",", "\""},
  };
  std::string text;
  for (const Fields& row : rows) text += CsvLine(row);
  TW_ASSERT_OK_AND_ASSIGN(auto records, ParseCsv(text, "round.csv"));
  ASSERT_EQ(records.size(), rows.size());
  int expected_line = 1;
  for (size_t i = 0; i < rows.size(); ++i) {
    EXPECT_EQ(records[i].fields, rows[i]) << "row " << i;
    EXPECT_EQ(records[i].line, expected_line) << "row " << i;
    for (const std::string& field : rows[i]) {
      expected_line += static_cast<int>(std::count(field.begin(), field.end(), '\n'));
    }
    ++expected_line;
  }
}

}  // namespace
}  // namespace tw
