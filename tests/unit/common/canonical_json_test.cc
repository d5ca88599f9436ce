#include "common/canonical_json.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <cmath>
#include <cstdint>
#include <limits>
#include <string>

#include "tests/testing/status_matchers.h"

namespace tw {
namespace {

using ::nlohmann::json;
using ::testing::HasSubstr;
using ::tw::testing::StatusIs;

std::string Canonical(const json& value) {
  StatusOr<std::string> canonical = CanonicalJson(value);
  EXPECT_TRUE(canonical.ok()) << canonical.status().ToString();
  return canonical.ok() ? *canonical : "";
}

TEST(FormatCanonicalNumberTest, MatchesEcmaScript) {
  struct Case {
    double value;
    const char* expected;
  };
  const Case kCases[] = {
      {0.0, "0"},
      {-0.0, "0"},
      {1.0, "1"},
      {-1.0, "-1"},
      {0.1, "0.1"},
      {0.875, "0.875"},
      {1e-6, "0.000001"},
      {1.234e-6, "0.000001234"},
      {1e-7, "1e-7"},
      {1.5e-7, "1.5e-7"},
      {-1.5e-7, "-1.5e-7"},
      {1e21, "1e+21"},
      {1.5e21, "1.5e+21"},
      {1e20, "100000000000000000000"},
      {1.2345678901234568e20, "123456789012345680000"},
      {123.456, "123.456"},
      {9007199254740992.0, "9007199254740992"},  // 2^53
      {5e-324, "5e-324"},
      {1.7976931348623157e308, "1.7976931348623157e+308"},
      {224.0, "224"},
      {4.50, "4.5"},
      {2e-3, "0.002"},
      {1e30, "1e+30"},
      {1e-27, "1e-27"},
      {333333333.33333329, "333333333.3333333"},
      {1.23e-18, "1.23e-18"},
  };
  for (const Case& c : kCases) {
    EXPECT_EQ(FormatCanonicalNumber(c.value), c.expected) << "value " << c.value;
  }
}

TEST(CanonicalJsonTest, Numbers) {
  EXPECT_EQ(Canonical(json(-0.0)), "0");
  EXPECT_EQ(Canonical(json(0.875)), "0.875");
  EXPECT_EQ(Canonical(json(224.0)), Canonical(json(224)));
  EXPECT_EQ(Canonical(json(std::numeric_limits<int64_t>::min())), "-9223372036854775808");
  EXPECT_EQ(Canonical(json(std::numeric_limits<int64_t>::max())), "9223372036854775807");
  EXPECT_EQ(Canonical(json(std::numeric_limits<uint64_t>::max())), "18446744073709551615");
  EXPECT_EQ(Canonical(json(-1)), "-1");
}

TEST(CanonicalJsonTest, NonFiniteNumbersAreRejectedWithPath) {
  json value = {{"lr", {1.0, std::nan("")}}};
  EXPECT_THAT(CanonicalJson(value), StatusIs(StatusCode::kInvalidArgument, HasSubstr("$.lr[1]")));
  EXPECT_THAT(CanonicalJson(json(std::numeric_limits<double>::infinity())),
              StatusIs(StatusCode::kInvalidArgument, HasSubstr("$")));
  EXPECT_THAT(CanonicalJson(json(-std::numeric_limits<double>::infinity())),
              StatusIs(StatusCode::kInvalidArgument, HasSubstr("infinite")));
}

TEST(CanonicalJsonTest, LiteralsAndEmptyContainers) {
  EXPECT_EQ(Canonical(json(nullptr)), "null");
  EXPECT_EQ(Canonical(json(true)), "true");
  EXPECT_EQ(Canonical(json(false)), "false");
  EXPECT_EQ(Canonical(json::array()), "[]");
  EXPECT_EQ(Canonical(json::object()), "{}");
  EXPECT_EQ(Canonical(json("")), "\"\"");
}

TEST(CanonicalJsonTest, KeysSortedByUtf8Bytes) {
  json value = json::object();
  for (const char* key : {"b", "a", "B", "z", "\xc3\xa9", "\xe2\x82\xac", "\xf0\x9f\x98\x80",
                          "\xef\xbd\xa1", "", "aa"}) {
    value[key] = 0;
  }
  // U+1F600 sorts after U+FF61 here; JCS (UTF-16 units: D83D < FF61) would put it first.
  EXPECT_EQ(Canonical(value),
            "{\"\":0,\"B\":0,\"a\":0,\"aa\":0,\"b\":0,\"z\":0,\"\xc3\xa9\":0,\"\xe2\x82\xac\":0,"
            "\"\xef\xbd\xa1\":0,\"\xf0\x9f\x98\x80\":0}");
}

TEST(CanonicalJsonTest, NestedValuesKeepArrayOrder) {
  TW_ASSERT_OK_AND_ASSIGN(
      const json value,
      ParseJson(R"( { "b" : [ 3, 1, {"d": true, "c": null} ], "a": {"y": "x", "x": [] } } )",
                "t.json"));
  EXPECT_EQ(Canonical(value), R"({"a":{"x":[],"y":"x"},"b":[3,1,{"c":null,"d":true}]})");
}

TEST(CanonicalJsonTest, StringEscaping) {
  const std::string input =
      std::string("q\"b\\/\b\f\n\r\t") + '\0' + "\x01\x1f\x7f" + "\xc3\xa9\xf0\x9f\x98\x80";
  EXPECT_EQ(Canonical(json(input)),
            std::string("\"q\\\"b\\\\/\\b\\f\\n\\r\\t\\u0000\\u0001\\u001f") +
                "\x7f\xc3\xa9\xf0\x9f\x98\x80\"");
  EXPECT_EQ(Canonical(json({{"\n", 1}})), "{\"\\n\":1}");
}

TEST(CanonicalJsonTest, InvalidUtf8IsRejectedWithPath) {
  json value;
  value["preprocess"]["mean"] = {0.5, "ok", "\xff"};
  EXPECT_THAT(CanonicalJson(value),
              StatusIs(StatusCode::kInvalidArgument, HasSubstr("invalid UTF-8 in string at "
                                                               "$.preprocess.mean[2]")));

  json bad_key;
  bad_key["a b"]["k\xffy"] = 1;
  EXPECT_THAT(CanonicalJson(bad_key),
              StatusIs(StatusCode::kInvalidArgument,
                       HasSubstr("invalid UTF-8 in object key at $[\"a b\"][\"k\\xffy\"]")));

  for (const char* bad : {"\xc0\x80",          // Overlong NUL.
                          "\xed\xa0\x80",      // UTF-16 surrogate.
                          "\xf4\x90\x80\x80",  // Above U+10FFFF.
                          "\xe2\x82",          // Truncated.
                          "\x80",              // Lone continuation byte.
                          "\xf8\x88\x80\x80\x80"}) {
    EXPECT_THAT(CanonicalJson(json({{"key", bad}})),
                StatusIs(StatusCode::kInvalidArgument, HasSubstr("$.key")))
        << "bytes " << ::testing::PrintToString(std::string(bad));
  }
}

TEST(CanonicalJsonTest, TooDeepIsRejected) {
  json value = 1;
  for (int i = 0; i < kMaxJsonDepth + 1; ++i) value = json::array({value});
  EXPECT_THAT(CanonicalJson(value), StatusIs(StatusCode::kInvalidArgument, HasSubstr("deep")));
}

TEST(HashCanonicalJsonTest, KnownValue) {
  // printf 'tw-canonical-v1\n{"a":1}' | sha256sum
  TW_ASSERT_OK_AND_ASSIGN(const HashedJson hashed, HashCanonicalJson(json({{"a", 1}})));
  EXPECT_EQ(hashed.canonical, "{\"a\":1}");
  EXPECT_EQ(hashed.sha256, "853a441957ed9147fc130befb31a9d0a2603f921456278229f7a767034f2bc47");
  EXPECT_EQ(hashed.hash_version, kCanonicalHashVersion);
  EXPECT_EQ(hashed.hash_version, 1);

  TW_ASSERT_OK_AND_ASSIGN(const HashedJson as_float, HashCanonicalJson(json({{"a", 1.0}})));
  EXPECT_EQ(as_float.sha256, hashed.sha256);
}

TEST(HashCanonicalJsonTest, IndependentOfKeyOrderAndWhitespace) {
  TW_ASSERT_OK_AND_ASSIGN(
      const json a,
      ParseJson(R"({"model": {"crop": 224, "mean": [0.485, 0.456]}, "lr": 1e-3})", "a.json"));
  TW_ASSERT_OK_AND_ASSIGN(const json b, ParseJson("{\n  \"lr\": 0.001,\n  \"model\": {\n"
                                                  "    \"mean\": [0.485, 0.456],\n"
                                                  "    \"crop\": 224.0\n  }\n}\n",
                                                  "b.json"));
  TW_ASSERT_OK_AND_ASSIGN(const HashedJson hash_a, HashCanonicalJson(a));
  TW_ASSERT_OK_AND_ASSIGN(const HashedJson hash_b, HashCanonicalJson(b));
  EXPECT_EQ(hash_a.canonical, R"({"lr":0.001,"model":{"crop":224,"mean":[0.485,0.456]}})");
  EXPECT_EQ(hash_a.canonical, hash_b.canonical);
  EXPECT_EQ(hash_a.sha256, hash_b.sha256);

  TW_ASSERT_OK_AND_ASSIGN(const HashedJson other, HashCanonicalJson(json({{"lr", 0.002}})));
  EXPECT_NE(other.sha256, hash_a.sha256);
}

TEST(HashCanonicalJsonTest, ErrorsPropagate) {
  EXPECT_THAT(HashCanonicalJson(json("\xff")),
              StatusIs(StatusCode::kInvalidArgument, HasSubstr("UTF-8")));
}

TEST(ParseJsonTest, ParsesValues) {
  TW_ASSERT_OK_AND_ASSIGN(
      const json value,
      ParseJson("\xef\xbb\xbf{\"i\": -5, \"u\": 18446744073709551615, \"f\": 0.5, \"s\": "
                "\"\\u00e9\\ud83d\\ude00\", \"n\": null, \"a\": [true, false], \"o\": {}}",
                "t.json"));
  EXPECT_EQ(value["i"].get<int64_t>(), -5);
  EXPECT_EQ(value["u"].get<uint64_t>(), std::numeric_limits<uint64_t>::max());
  EXPECT_EQ(value["f"].get<double>(), 0.5);
  EXPECT_EQ(value["s"].get<std::string>(), "\xc3\xa9\xf0\x9f\x98\x80");
  EXPECT_TRUE(value["n"].is_null());
  EXPECT_EQ(value["a"], json::array({true, false}));
  EXPECT_EQ(value["o"], json::object());

  TW_ASSERT_OK_AND_ASSIGN(const json scalar, ParseJson(" 3 ", "t.json"));
  EXPECT_EQ(scalar, json(3));
}

TEST(ParseJsonTest, ErrorPositions) {
  struct Case {
    std::string text;
    std::string expected_prefix;
  };
  const Case kCases[] = {
      {"", "cfg.json:1:1: "},
      {"[1, 2", "cfg.json:1:6: "},
      {"{\"a\": tru}", "cfg.json:1:10: "},
      {"{\n  \"a\": 1,\n}", "cfg.json:3:1: "},
      {"[1,]", "cfg.json:1:4: "},
      {"// comment\n{}", "cfg.json:1:1: "},
      {"{} x", "cfg.json:1:4: "},
      {"{\"a\":1,\n \"a\":2}", "cfg.json:2:2: duplicate object key \"a\""},
      {"{\"a\\\"\\\\\":1, \"a\\\"\\\\\":2}", "cfg.json:1:13: duplicate object key"},
      {"{\"a\": \"x\xff\"}", "cfg.json:1:9: invalid UTF-8"},
      {"\n\n  \xc0\x80", "cfg.json:3:3: invalid UTF-8"},
      {"[1e999]", "cfg.json:1:"},
      {"\"\\ud800\"", "cfg.json:1:"},
      {"[\"a\x01\"]", "cfg.json:1:"},
  };
  for (const Case& c : kCases) {
    EXPECT_THAT(ParseJson(c.text, "cfg.json"),
                StatusIs(StatusCode::kInvalidArgument, ::testing::StartsWith(c.expected_prefix)))
        << "text: " << ::testing::PrintToString(c.text);
  }
}

TEST(ParseJsonTest, ReasonHasNoNlohmannPrefix) {
  StatusOr<json> parsed = ParseJson("[1,]", "cfg.json");
  ASSERT_FALSE(parsed.ok());
  EXPECT_THAT(parsed.status().message(), HasSubstr("syntax error"));
  EXPECT_THAT(parsed.status().message(), ::testing::Not(HasSubstr("json.exception")));
  EXPECT_THAT(parsed.status().message(), ::testing::Not(HasSubstr("parse error at line")));
}

TEST(ParseJsonTest, NestingLimit) {
  const std::string ok_text = std::string(kMaxJsonDepth, '[') + std::string(kMaxJsonDepth, ']');
  const StatusOr<json> ok_parse = ParseJson(ok_text, "deep.json");
  TW_EXPECT_OK(ok_parse);
  const std::string too_deep = "[" + ok_text + "]";
  EXPECT_THAT(ParseJson(too_deep, "deep.json"),
              StatusIs(StatusCode::kInvalidArgument,
                       HasSubstr("deep.json:1:" + std::to_string(kMaxJsonDepth + 1) +
                                 ": nesting deeper than")));
}

}  // namespace
}  // namespace tw
