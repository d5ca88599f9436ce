// Browser sessions (api/sessions.h): the cookie is not the token, expires, cannot be forged or
// carried to another server process, and is found in Cookie headers; forms decode.
#include "api/sessions.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include "api/http_server.h"

namespace tw::api {
namespace {

using ::testing::HasSubstr;
using ::testing::Not;
using namespace std::chrono_literals;

const WallTime kNow = WallTime(std::chrono::seconds(1'700'000'000));

std::unique_ptr<BrowserSessions> Make(std::string_view token = "s3cret-token") {
  auto sessions = BrowserSessions::Create(token, 1h);
  EXPECT_TRUE(sessions.ok()) << sessions.status().ToString();
  return sessions.ok() ? std::move(*sessions) : nullptr;
}

TEST(BrowserSessionsTest, ChecksTheTokenLikeTheBearerHeader) {
  auto sessions = Make();
  EXPECT_TRUE(sessions->TokenMatches("s3cret-token"));
  EXPECT_FALSE(sessions->TokenMatches("s3cret-tokeN"));
  EXPECT_FALSE(sessions->TokenMatches("s3cret-token "));
  EXPECT_FALSE(sessions->TokenMatches(""));
  EXPECT_FALSE(BrowserSessions::Create("", 1h).ok());
  EXPECT_FALSE(BrowserSessions::Create("t", 0s).ok());
}

TEST(BrowserSessionsTest, ACookieIsValidUntilItExpiresAndIsNotTheToken) {
  auto sessions = Make();
  const std::string cookie = sessions->Mint(kNow);
  EXPECT_THAT(cookie, Not(HasSubstr("s3cret")));
  EXPECT_THAT(cookie, ::testing::StartsWith("1700000000."));
  EXPECT_TRUE(sessions->Valid(cookie, kNow));
  EXPECT_TRUE(sessions->Valid(cookie, kNow + 1h));
  EXPECT_FALSE(sessions->Valid(cookie, kNow + 1h + 1s));
  EXPECT_TRUE(sessions->Valid(cookie, kNow - 30s));  // a clock stepped back a little
  EXPECT_FALSE(sessions->Valid(cookie, kNow - 2min));
}

TEST(BrowserSessionsTest, ForgedTamperedOrForeignCookiesAreRefused) {
  auto sessions = Make();
  const std::string cookie = sessions->Mint(kNow);
  // Another process (a restarted daemon) has another key, even with the same token.
  EXPECT_FALSE(Make()->Valid(cookie, kNow));
  // A later issue time with the old MAC.
  std::string later = cookie;
  later[9] = later[9] == '9' ? '8' : '9';
  EXPECT_FALSE(sessions->Valid(later, kNow));
  std::string flipped = cookie;
  flipped.back() = flipped.back() == 'a' ? 'b' : 'a';
  EXPECT_FALSE(sessions->Valid(flipped, kNow));
  for (const char* bad : {"", ".", "1700000000", "1700000000.", ".abcd", "x.y",
                          "99999999999999999999999.00", "-1.00"}) {
    EXPECT_FALSE(sessions->Valid(bad, kNow)) << bad;
  }
}

TEST(BrowserSessionsTest, SetCookieHasTheAttributes) {
  auto sessions = Make();
  const std::string header = sessions->SetCookieHeader(kNow);
  EXPECT_THAT(header, ::testing::StartsWith("tw_session=1700000000."));
  EXPECT_THAT(header, HasSubstr("; HttpOnly"));
  EXPECT_THAT(header, HasSubstr("; SameSite=Strict"));
  EXPECT_THAT(header, HasSubstr("; Path=/"));
  EXPECT_THAT(header, HasSubstr("; Max-Age=3600"));
}

TEST(BrowserSessionsTest, FindsTheCookieAmongOthers) {
  EXPECT_EQ(BrowserSessions::FindCookie("tw_session=1.ab"), "1.ab");
  EXPECT_EQ(BrowserSessions::FindCookie("a=1; tw_session=2.cd; b=3"), "2.cd");
  EXPECT_EQ(BrowserSessions::FindCookie("a=1, tw_session=\"3.ef\""), "3.ef");
  EXPECT_EQ(BrowserSessions::FindCookie("xtw_session=1; tw_sessionx=2"), std::nullopt);
  EXPECT_EQ(BrowserSessions::FindCookie(""), std::nullopt);
}

TEST(FormTest, DecodesUrlEncodedBodies) {
  auto form = ParseFormBody("token=a%2Bb+c&next=%2Fruns%2F%3Cscript%3E&empty=&flag");
  ASSERT_TRUE(form.ok()) << form.status().ToString();
  EXPECT_EQ(form->find("token")->second, "a+b c");
  EXPECT_EQ(form->find("next")->second, "/runs/<script>");
  EXPECT_EQ(form->find("empty")->second, "");
  EXPECT_EQ(form->count("flag"), 1u);
  EXPECT_FALSE(ParseFormBody("token=%zz").ok());
  EXPECT_FALSE(ParseFormBody("token=%4").ok());
  EXPECT_EQ(PercentEncode("/runs/<a b>?x=1&y"), "%2Fruns%2F%3Ca%20b%3E%3Fx%3D1%26y");
  EXPECT_EQ(PercentEncode("run-1_a.b~"), "run-1_a.b~");
}

}  // namespace
}  // namespace tw::api
