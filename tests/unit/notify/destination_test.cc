#include "notify/destination.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include "tests/testing/status_matchers.h"

namespace tw::notify {
namespace {

using ::testing::HasSubstr;
using ::testing::Not;
using ::tw::testing::StatusIs;

TEST(ParseWebhookUrlTest, AcceptsHttpAndHttps) {
  TW_ASSERT_OK_AND_ASSIGN(WebhookUrl u,
                          ParseWebhookUrl("HTTPS://Hooks.Slack.com/services/T0/B0/XyZ?x=1#frag"));
  EXPECT_EQ(u.scheme, "https");
  EXPECT_EQ(u.host, "hooks.slack.com");
  EXPECT_EQ(u.port, 443);
  EXPECT_EQ(u.path_and_query, "/services/T0/B0/XyZ?x=1");
  TW_ASSERT_OK_AND_ASSIGN(u, ParseWebhookUrl("http://example.com:8080"));
  EXPECT_EQ(u.port, 8080);
  EXPECT_EQ(u.path_and_query, "/");
  TW_ASSERT_OK_AND_ASSIGN(u, ParseWebhookUrl("http://example.com?a=b"));
  EXPECT_EQ(u.path_and_query, "/?a=b");
  TW_ASSERT_OK_AND_ASSIGN(u, ParseWebhookUrl("https://[2001:DB8::1]:8443/hook"));
  EXPECT_EQ(u.host, "2001:db8::1");
  EXPECT_EQ(u.port, 8443);
}

TEST(ParseWebhookUrlTest, RejectsWithAReason) {
  struct Case {
    std::string url;
    std::string reason;
  };
  for (const Case& c : std::vector<Case>{
           {"", "empty"},
           {"hooks.slack.com/x", "no scheme"},
           {"file:///etc/passwd", "http or https"},
           {"gopher://x:70/", "http or https"},
           {"ftp://x/", "http or https"},
           {"http://user:pass@example.com/", "user information"},
           {"http://@example.com/", "user information"},
           {"http:///path", "no host"},
           {"http://:80/", "no host"},
           {"http://example.com:0/", "1..65535"},
           {"http://example.com:65536/", "1..65535"},
           {"http://example.com:80a/", "1..65535"},
           {"http://example.com:/", "empty port"},
           {"http://exa mple.com/", "whitespace"},
           {"http://example.com/\r\nX: y", "control"},
           {"http://exa%6dple.com/", "invalid character"},
           {"http://[::1/", "unterminated"},
           {"http://[zz::1]/", "invalid IPv6"},
           {"http://[fe80::1%25eth0]/", "invalid IPv6"},
           {"http://example.com/" + std::string(2100, 'a'), "2048"},
       }) {
    EXPECT_THAT(ParseWebhookUrl(c.url), StatusIs(StatusCode::kInvalidArgument, HasSubstr(c.reason)))
        << c.url;
  }
}

TEST(ParseWebhookUrlTest, ErrorsDoNotRepeatThePathToken) {
  EXPECT_THAT(ParseWebhookUrl("ftp://h/services/CANARY"),
              StatusIs(StatusCode::kInvalidArgument, Not(HasSubstr("CANARY"))));
  EXPECT_THAT(ParseWebhookUrl("http://h:99999/CANARY"),
              StatusIs(StatusCode::kInvalidArgument, Not(HasSubstr("CANARY"))));
}

TEST(RedactUrlTest, KeepsSchemeHostAndPortOnly) {
  TW_ASSERT_OK_AND_ASSIGN(WebhookUrl u,
                          ParseWebhookUrl("https://hooks.slack.com/services/T0/B0/CANARY"));
  EXPECT_EQ(RedactUrl(u), "https://hooks.slack.com/***");
  TW_ASSERT_OK_AND_ASSIGN(u, ParseWebhookUrl("http://example.com:8080/?token=CANARY"));
  EXPECT_EQ(RedactUrl(u), "http://example.com:8080/***");
  TW_ASSERT_OK_AND_ASSIGN(u, ParseWebhookUrl("http://[::1]:80/"));
  EXPECT_EQ(RedactUrl(u), "http://[::1]/");
}

TEST(CheckAddressTest, RefusesInternalRangesNamingThem) {
  struct Case {
    std::string ip;
    std::string range;
  };
  for (const Case& c : std::vector<Case>{
           {"127.0.0.1", "loopback"},
           {"127.255.1.2", "loopback"},
           {"0.0.0.0", "0.0.0.0/8"},
           {"0.0.0.1", "0.0.0.0/8"},
           {"10.0.0.5", "private 10.0.0.0/8"},
           {"172.16.0.1", "172.16.0.0/12"},
           {"172.31.255.255", "172.16.0.0/12"},
           {"192.168.1.1", "192.168.0.0/16"},
           {"169.254.169.254", "metadata"},
           {"169.254.1.1", "link-local"},
           {"100.64.0.1", "CGNAT"},
           {"100.127.255.255", "CGNAT"},
           {"224.0.0.1", "multicast"},
           {"239.255.255.250", "multicast"},
           {"255.255.255.255", "broadcast"},
           {"240.0.0.1", "reserved"},
           {"192.0.2.1", "documentation"},
           {"198.18.0.1", "benchmarking"},
           {"192.0.0.1", "IETF"},
           {"::1", "loopback ::1"},
           {"::", "unspecified"},
           {"fc00::1", "unique local"},
           {"fd12:3456::1", "unique local"},
           {"fd00:ec2::254", "metadata"},
           {"fe80::1", "link-local fe80::/10"},
           {"febf::1", "link-local"},
           {"fec0::1", "site-local"},
           {"ff02::1", "multicast"},
           {"::ffff:127.0.0.1", "IPv4-mapped ::ffff:0:0/96 of loopback"},
           {"::ffff:0.0.0.1", "IPv4-mapped"},
           {"::ffff:169.254.169.254", "metadata"},
           {"::ffff:7f00:1", "loopback"},
           {"::127.0.0.1", "IPv4-compatible"},
           {"::10.1.2.3", "IPv4-compatible"},
           {"64:ff9b::a00:1", "NAT64 64:ff9b::/96 of private"},
           {"64:ff9b:1::1", "local-use NAT64"},
           {"2002:7f00:1::1", "6to4 2002::/16 of loopback"},
           {"2002:a9fe:a9fe::", "6to4 2002::/16 of cloud metadata"},
           {"2001:0:4136:e378::1", "Teredo"},
           {"2001:db8::1", "documentation"},
       }) {
    EXPECT_THAT(CheckAddress(c.ip, false),
                StatusIs(StatusCode::kPermissionDenied,
                         ::testing::AllOf(HasSubstr(c.ip), HasSubstr(c.range))))
        << c.ip;
    TW_EXPECT_OK(CheckAddress(c.ip, true));
  }
}

TEST(CheckAddressTest, AllowsPublicAddresses) {
  for (std::string ip :
       {"1.1.1.1", "8.8.8.8", "93.184.216.34", "172.15.255.255", "172.32.0.0", "100.63.255.255",
        "100.128.0.0", "169.253.255.255", "11.0.0.1", "223.255.255.255", "::ffff:8.8.8.8",
        "2606:4700:4700::1111", "64:ff9b::808:808", "2002:808:808::1", "2a00:1450:4001::1"}) {
    EXPECT_TRUE(CheckAddress(ip, false).ok()) << ip << ": " << CheckAddress(ip, false).ToString();
  }
}

TEST(CheckAddressTest, RejectsNonNumericInput) {
  for (std::string ip : {"", "localhost", "1.2.3", "0x7f.1", "::g", "1.1.1.1 "}) {
    EXPECT_THAT(CheckAddress(ip, true),
                StatusIs(StatusCode::kInvalidArgument, HasSubstr("numeric")))
        << ip;
  }
}

// Literal forms need no DNS: getaddrinfo turns them into numbers, hermetically.
TEST(ResolveHostTest, LiteralsAndInetAtonFormsBecomeCheckedNumbers) {
  for (std::string host : {"127.0.0.1", "2130706433", "0177.0.0.1", "0x7f.1", "127.1"}) {
    TW_ASSERT_OK_AND_ASSIGN(std::vector<std::string> ips, ResolveHost(host));
    ASSERT_EQ(ips, std::vector<std::string>{"127.0.0.1"}) << host;
    EXPECT_THAT(CheckAddress(ips[0], false),
                StatusIs(StatusCode::kPermissionDenied, HasSubstr("loopback")));
  }
  TW_ASSERT_OK_AND_ASSIGN(std::vector<std::string> ips, ResolveHost("::ffff:127.0.0.1"));
  ASSERT_EQ(ips.size(), 1u);
  EXPECT_THAT(CheckAddress(ips[0], false),
              StatusIs(StatusCode::kPermissionDenied, HasSubstr("loopback")));
}

}  // namespace
}  // namespace tw::notify
