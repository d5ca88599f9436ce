#include "notify/render.h"

#include <gmock/gmock.h>
#include <gtest/gtest-spi.h>
#include <gtest/gtest.h>

#include <cstdlib>
#include <fstream>
#include <nlohmann/json.hpp>
#include <sstream>

#include "tests/testing/status_matchers.h"

namespace tw::notify {
namespace {

using ::testing::HasSubstr;
using ::tw::testing::StatusIs;
using Json = nlohmann::json;

FlagEvent RegressionEvent() {
  FlagEvent e;
  e.event_type = "regression";
  e.event_id = "msg_01HQ3Z8K2M4N6P8R0T2V4X6Z8A";
  e.checkpoint = "resnet50-aug/ckpt_012000.pt";
  e.run = "resnet50-aug";
  e.step = 12000;
  e.checkpoint_sha256 = "9f86d081884c7d659a2feaa0c55ad015a3bf4f1b2b0b822cd15d6c15b0f00a08";
  e.reference_checkpoint = "resnet50-aug/ckpt_010000.pt";
  e.reference_kind = "previous";
  e.reference_dataset = "imagenet";
  e.reference_gain_points = 0.84;
  e.reference_ci_low = 0.31;
  e.reference_ci_high = 1.37;
  e.reference_p = 0.00192;
  e.reference_n = 50000;
  e.variants.push_back(
      {"imagenet-v2", "imagenet", -1.42, -2.31, -0.53, 0.000123, 0.000369, 10000, 612});
  e.variants.push_back(
      {"imagenet-sketch", "imagenet", -0.97, -1.52, -0.42, 0.0312, 0.0624, 50889, 2711});
  e.variants.push_back({"imagenet-r <!channel> & co", "imagenet", -2.5, -3.75, -1.25, 4.2e-07,
                        1.26e-06, 30000, 1990});
  e.cli_hint = "transferwatch compare resnet50-aug/ckpt_010000.pt resnet50-aug/ckpt_012000.pt";
  e.created_at = "2024-03-01T12:34:56Z";
  return e;
}

FlagEvent EvalFailedEvent() {
  FlagEvent e;
  e.event_type = "eval-failed";
  e.event_id = "msg_01HQ3Z8K2M4N6P8R0T2V4X6Z8B";
  e.checkpoint = "vit-b/step_500.pt";
  e.run = "vit-b";
  e.step = 500;
  e.checkpoint_sha256 = "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855";
  e.cli_hint = "transferwatch jobs show --checkpoint vit-b/step_500.pt";
  e.created_at = "2024-03-01T13:00:00Z";
  e.error = "checkpoint is not a TorchScript archive: central directory truncated";
  return e;
}

FlagEvent TestEvent() {
  FlagEvent e = RegressionEvent();
  e.event_type = "test";
  e.event_id = "msg_01HQ3Z8K2M4N6P8R0T2V4X6Z8C";
  e.step.reset();
  e.variants.resize(1);
  e.cli_hint = "transferwatch alerts test";
  return e;
}

std::string GoldenPath(const std::string& name) {
  return std::string(TW_NOTIFY_GOLDEN_DIR) + "/" + name + ".json";
}

void ExpectGolden(const std::string& name, const std::string& actual) {
  const std::string path = GoldenPath(name);
  const char* update = std::getenv("TW_UPDATE_GOLDEN");
  if (update != nullptr && std::string(update) == "1") {
    std::ofstream(path, std::ios::binary) << actual;
    return;
  }
  std::ifstream in(path, std::ios::binary);
  ASSERT_TRUE(in) << "missing golden file " << path << " (run with TW_UPDATE_GOLDEN=1)";
  std::stringstream buf;
  buf << in.rdbuf();
  EXPECT_EQ(actual, buf.str()) << "golden " << path << " differs (TW_UPDATE_GOLDEN=1 rewrites)";
}

struct GoldenCase {
  WebhookFormat format;
  std::string event;
};

class GoldenTest : public ::testing::TestWithParam<GoldenCase> {};

TEST_P(GoldenTest, MatchesGoldenFile) {
  const GoldenCase& c = GetParam();
  FlagEvent e = c.event == "regression"    ? RegressionEvent()
                : c.event == "eval_failed" ? EvalFailedEvent()
                                           : TestEvent();
  TW_ASSERT_OK_AND_ASSIGN(std::string body, RenderMessage(c.format, e));
  ASSERT_TRUE(Json::accept(body)) << body;
  ExpectGolden(std::string(WebhookFormatName(c.format)) + "_" + c.event, body);
}

INSTANTIATE_TEST_SUITE_P(AllFormats, GoldenTest,
                         ::testing::Values(GoldenCase{WebhookFormat::kSlack, "regression"},
                                           GoldenCase{WebhookFormat::kMattermost, "regression"},
                                           GoldenCase{WebhookFormat::kDiscord, "regression"},
                                           GoldenCase{WebhookFormat::kTeams, "regression"},
                                           GoldenCase{WebhookFormat::kGeneric, "regression"},
                                           GoldenCase{WebhookFormat::kSlack, "eval_failed"},
                                           GoldenCase{WebhookFormat::kGeneric, "eval_failed"},
                                           GoldenCase{WebhookFormat::kDiscord, "eval_failed"},
                                           GoldenCase{WebhookFormat::kTeams, "eval_failed"},
                                           GoldenCase{WebhookFormat::kMattermost, "eval_failed"},
                                           GoldenCase{WebhookFormat::kSlack, "test"},
                                           GoldenCase{WebhookFormat::kGeneric, "test"}),
                         [](const ::testing::TestParamInfo<GoldenCase>& param_info) {
                           return std::string(WebhookFormatName(param_info.param.format)) + "_" +
                                  param_info.param.event;
                         });

TEST(RenderTest, EveryChatFormatStatesTheFacts) {
  FlagEvent e = RegressionEvent();
  for (WebhookFormat f : {WebhookFormat::kSlack, WebhookFormat::kMattermost,
                          WebhookFormat::kDiscord, WebhookFormat::kTeams}) {
    TW_ASSERT_OK_AND_ASSIGN(std::string body, RenderMessage(f, e));
    std::string text = Json::parse(body).dump();  // unescaped enough for substrings
    for (std::string needle :
         {"resnet50-aug/ckpt_012000.pt", "resnet50-aug", "12000", "resnet50-aug/ckpt_010000.pt",
          "previous", "imagenet gain", "+0.84 pts [0.31, 1.37], p=0.00192", "imagenet-v2",
          "-1.42 pts [-2.31, -0.53], p=1.23e-04, Holm p=3.69e-04", "imagenet-sketch",
          "p=0.0312, Holm p=0.0624", "p=4.20e-07",
          "transferwatch compare resnet50-aug/ckpt_010000.pt resnet50-aug/ckpt_012000.pt"}) {
      EXPECT_THAT(text, HasSubstr(needle)) << WebhookFormatName(f);
    }
  }
}

TEST(RenderTest, SlackEscapesMentionsAndLinks) {
  TW_ASSERT_OK_AND_ASSIGN(std::string body,
                          RenderMessage(WebhookFormat::kSlack, RegressionEvent()));
  EXPECT_THAT(body, HasSubstr("imagenet-r &lt;!channel&gt; &amp; co"));
  EXPECT_THAT(body, ::testing::Not(HasSubstr("<!channel>")));
}

TEST(RenderTest, TeamsIsAnAdaptiveCardMessage) {
  TW_ASSERT_OK_AND_ASSIGN(std::string body,
                          RenderMessage(WebhookFormat::kTeams, RegressionEvent()));
  Json j = Json::parse(body);
  EXPECT_EQ(j["type"], "message");
  EXPECT_EQ(j["attachments"][0]["contentType"], "application/vnd.microsoft.card.adaptive");
  EXPECT_EQ(j["attachments"][0]["content"]["type"], "AdaptiveCard");
  EXPECT_EQ(j["attachments"][0]["content"]["version"], "1.4");
}

size_t CodePoints(const std::string& s) {
  size_t n = 0;
  for (char c : s) n += (static_cast<unsigned char>(c) & 0xC0) != 0x80;
  return n;
}

TEST(RenderTest, DiscordEnforcesEmbedLimits) {
  FlagEvent e = RegressionEvent();
  e.checkpoint = std::string(400, 'c') + "/x.pt";
  e.error = std::string(5000, 'E');
  VariantResult v = e.variants[0];
  e.variants.clear();
  for (int i = 0; i < 60; ++i) {
    v.dataset = "variant-" + std::to_string(i) + "-" + std::string(300, 'v');
    e.variants.push_back(v);
  }
  TW_ASSERT_OK_AND_ASSIGN(std::string body, RenderMessage(WebhookFormat::kDiscord, e));
  Json embed = Json::parse(body)["embeds"][0];
  std::string title = embed["title"], description = embed["description"];
  EXPECT_LE(CodePoints(title), 256u);
  EXPECT_THAT(title, ::testing::EndsWith("\xE2\x80\xA6"));
  EXPECT_LE(CodePoints(description), 4096u);
  ASSERT_LE(embed["fields"].size(), 25u);
  size_t total = CodePoints(title) + CodePoints(description) +
                 CodePoints(embed["footer"]["text"].get<std::string>());
  for (const Json& f : embed["fields"]) {
    std::string name = f["name"], value = f["value"];
    EXPECT_LE(CodePoints(name), 256u);
    EXPECT_LE(CodePoints(value), 1024u);
    total += CodePoints(name) + CodePoints(value);
  }
  EXPECT_LE(total, 6000u);
  size_t shown = embed["fields"].size() - 5;  // checkpoint, run, step, reference, gain
  EXPECT_THAT(description,
              HasSubstr(std::to_string(60 - shown) + " more variants not shown (see the CLI)"));
  EXPECT_EQ(Json::parse(body)["allowed_mentions"]["parse"].size(), 0u);
}

TEST(RenderTest, DiscordKeepsAllOfAFewVariants) {
  TW_ASSERT_OK_AND_ASSIGN(std::string body,
                          RenderMessage(WebhookFormat::kDiscord, RegressionEvent()));
  Json embed = Json::parse(body)["embeds"][0];
  EXPECT_EQ(embed["fields"].size(), 8u);
  EXPECT_FALSE(embed.contains("description"));
}

TEST(RenderTest, InvalidUtf8IsReplacedNotThrown) {
  FlagEvent e = RegressionEvent();
  e.checkpoint = "run/bad\xff\xfe.pt";
  for (WebhookFormat f :
       {WebhookFormat::kSlack, WebhookFormat::kMattermost, WebhookFormat::kDiscord,
        WebhookFormat::kTeams, WebhookFormat::kGeneric}) {
    TW_ASSERT_OK_AND_ASSIGN(std::string body, RenderMessage(f, e));
    EXPECT_TRUE(Json::accept(body)) << WebhookFormatName(f);
  }
}

TEST(RenderTest, UnknownEventTypeIsRefused) {
  FlagEvent e = RegressionEvent();
  e.event_type = "bogus";
  EXPECT_THAT(RenderMessage(WebhookFormat::kGeneric, e),
              StatusIs(StatusCode::kInvalidArgument, HasSubstr("bogus")));
}

TEST(FormatTest, NamesRoundTrip) {
  for (WebhookFormat f :
       {WebhookFormat::kSlack, WebhookFormat::kMattermost, WebhookFormat::kDiscord,
        WebhookFormat::kTeams, WebhookFormat::kGeneric}) {
    TW_ASSERT_OK_AND_ASSIGN(WebhookFormat back, ParseWebhookFormat(WebhookFormatName(f)));
    EXPECT_EQ(back, f);
  }
  TW_ASSERT_OK_AND_ASSIGN(WebhookFormat s, ParseWebhookFormat("Slack"));
  EXPECT_EQ(s, WebhookFormat::kSlack);
  EXPECT_THAT(ParseWebhookFormat("msteams"),
              StatusIs(StatusCode::kInvalidArgument, HasSubstr("expected slack")));
}

TEST(FormatTest, Numbers) {
  EXPECT_EQ(FormatPoints(-1.4249), "-1.42");
  EXPECT_EQ(FormatPoints(0.005), "0.01");
  EXPECT_EQ(FormatPoints(-0.001), "0.00");
  EXPECT_EQ(FormatPoints(12), "12.00");
  EXPECT_EQ(FormatP(0.000123), "1.23e-04");
  EXPECT_EQ(FormatP(0.0312), "0.0312");
  EXPECT_EQ(FormatP(0.5), "0.500");
  EXPECT_EQ(FormatP(1), "1.00");
  EXPECT_EQ(FormatP(0.001), "0.00100");
  EXPECT_EQ(FormatP(0), "0.00e+00");
  EXPECT_EQ(FormatP(std::nan("")), "nan");
}

// A structural check of the generic body against schemas/webhook-event.schema.json: types,
// required keys, no undeclared keys, enums, nullable oneOf. (No JSON Schema library here.)
void Validate(const Json& schema, const Json& value, const std::string& at) {
  if (schema.contains("oneOf")) {
    int matches = 0;
    for (const Json& alt : schema["oneOf"]) {
      ::testing::TestPartResultArray failures;
      {
        ::testing::ScopedFakeTestPartResultReporter reporter(
            ::testing::ScopedFakeTestPartResultReporter::INTERCEPT_ONLY_CURRENT_THREAD, &failures);
        Validate(alt, value, at);
      }
      if (failures.size() == 0) ++matches;
    }
    EXPECT_EQ(matches, 1) << at << " matches " << matches << " of oneOf";
    return;
  }
  if (schema.contains("enum")) {
    bool found = false;
    for (const Json& v : schema["enum"]) found = found || v == value;
    EXPECT_TRUE(found) << at << " = " << value.dump() << " not in enum";
  }
  if (schema.contains("type")) {
    std::vector<std::string> types;
    if (schema["type"].is_array()) {
      for (const Json& t : schema["type"]) types.push_back(t);
    } else {
      types.push_back(schema["type"]);
    }
    bool ok = false;
    for (const std::string& t : types) {
      ok = ok || (t == "object" && value.is_object()) || (t == "array" && value.is_array()) ||
           (t == "string" && value.is_string()) || (t == "null" && value.is_null()) ||
           (t == "integer" && value.is_number_integer()) || (t == "number" && value.is_number());
    }
    EXPECT_TRUE(ok) << at << " = " << value.dump() << " is not " << schema["type"].dump();
  }
  if (value.is_object() && schema.contains("properties")) {
    for (const Json& key : schema.value("required", Json::array())) {
      EXPECT_TRUE(value.contains(key.get<std::string>())) << at << " lacks " << key;
    }
    for (const auto& [key, v] : value.items()) {
      if (schema["properties"].contains(key)) {
        Validate(schema["properties"][key], v, at + "." + key);
      } else {
        EXPECT_NE(schema.value("additionalProperties", true), false) << at << " has extra " << key;
      }
    }
  }
  if (value.is_array() && schema.contains("items")) {
    for (size_t i = 0; i < value.size(); ++i) {
      Validate(schema["items"], value[i], at + "[" + std::to_string(i) + "]");
    }
  }
}

TEST(RenderTest, GenericBodyFollowsTheSchema) {
  std::ifstream in(std::string(TW_SCHEMAS_DIR) + "/webhook-event.schema.json");
  ASSERT_TRUE(in);
  Json schema = Json::parse(in);
  for (const FlagEvent& e : {RegressionEvent(), EvalFailedEvent(), TestEvent()}) {
    TW_ASSERT_OK_AND_ASSIGN(std::string body, RenderMessage(WebhookFormat::kGeneric, e));
    Validate(schema, Json::parse(body), "$");
  }
  // The validator itself catches a wrong body.
  ::testing::TestPartResultArray failures;
  {
    ::testing::ScopedFakeTestPartResultReporter reporter(
        ::testing::ScopedFakeTestPartResultReporter::INTERCEPT_ONLY_CURRENT_THREAD, &failures);
    Validate(schema, Json::parse(R"({"type":"x","timestamp":1,"data":{},"extra":1})"), "$");
  }
  EXPECT_GE(failures.size(), 3);
}

}  // namespace
}  // namespace tw::notify

namespace tw::notify {
namespace {

std::vector<FlagEvent> Burst(int n) {
  std::vector<FlagEvent> events;
  for (int i = 0; i < n; ++i) {
    FlagEvent e = i % 3 == 2 ? EvalFailedEvent() : RegressionEvent();
    e.checkpoint = "run-a/epoch_" + std::to_string(i) + ".pt";
    events.push_back(e);
  }
  return events;
}

TEST(RenderMessagesTest, OneEventIsExactlyRenderMessage) {
  for (WebhookFormat f :
       {WebhookFormat::kSlack, WebhookFormat::kDiscord, WebhookFormat::kGeneric}) {
    TW_ASSERT_OK_AND_ASSIGN(std::string one, RenderMessage(f, RegressionEvent()));
    TW_ASSERT_OK_AND_ASSIGN(std::string many, RenderMessages(f, {RegressionEvent()}));
    EXPECT_EQ(one, many);
  }
  EXPECT_THAT(RenderMessages(WebhookFormat::kSlack, {}),
              StatusIs(StatusCode::kInvalidArgument, HasSubstr("at least one event")));
}

TEST(RenderMessagesTest, DigestSummarisesAndShowsEveryEventThatFits) {
  auto events = Burst(3);
  for (WebhookFormat f : {WebhookFormat::kSlack, WebhookFormat::kMattermost,
                          WebhookFormat::kDiscord, WebhookFormat::kTeams}) {
    TW_ASSERT_OK_AND_ASSIGN(std::string body, RenderMessages(f, events));
    EXPECT_THAT(body, HasSubstr("3 TransferWatch alerts: 2 regressions, 1 failed evaluation"))
        << WebhookFormatName(f);
    for (const auto& e : events) EXPECT_THAT(body, HasSubstr(e.checkpoint)) << WebhookFormatName(f);
  }
  TW_ASSERT_OK_AND_ASSIGN(std::string mattermost,
                          RenderMessages(WebhookFormat::kMattermost, events));
  EXPECT_EQ(Json::parse(mattermost)["attachments"].size(), 3u);
}

TEST(RenderMessagesTest, DigestsStayWithinSlackAndDiscordLimits) {
  auto events = Burst(12);
  TW_ASSERT_OK_AND_ASSIGN(std::string slack, RenderMessages(WebhookFormat::kSlack, events));
  Json blocks = Json::parse(slack)["blocks"];
  EXPECT_LE(blocks.size(), 50u);
  EXPECT_THAT(blocks.back().dump(), HasSubstr("more alerts not shown (transferwatch flags)"));

  TW_ASSERT_OK_AND_ASSIGN(std::string discord, RenderMessages(WebhookFormat::kDiscord, events));
  Json body = Json::parse(discord);
  ASSERT_LE(body["embeds"].size(), 10u);
  size_t total = 0;
  for (const Json& embed : body["embeds"]) {
    total += CodePoints(embed["title"].get<std::string>());
    if (embed.contains("description")) total += CodePoints(embed["description"].get<std::string>());
    if (embed.contains("footer")) total += CodePoints(embed["footer"]["text"].get<std::string>());
    for (const Json& f : embed["fields"]) {
      total += CodePoints(f["name"].get<std::string>()) + CodePoints(f["value"].get<std::string>());
    }
  }
  EXPECT_LE(total, 6000u);
  size_t left_out = 12 - body["embeds"].size();
  EXPECT_THAT(body["content"].get<std::string>(),
              HasSubstr(std::to_string(left_out) + " more alerts not shown"));
}

TEST(RenderMessagesTest, GenericHasNoDigest) {
  EXPECT_THAT(RenderMessages(WebhookFormat::kGeneric, Burst(2)),
              StatusIs(StatusCode::kInvalidArgument, HasSubstr("one event per request")));
}

}  // namespace
}  // namespace tw::notify
