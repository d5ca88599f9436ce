#include "notify/signing.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <set>

#include "tests/testing/status_matchers.h"

namespace tw::notify {
namespace {

using ::testing::HasSubstr;
using ::testing::Not;
using ::testing::StartsWith;
using ::tw::testing::StatusIs;

// The test vector of the Standard Webhooks reference libraries (standard-webhooks/standard-
// webhooks libraries/*: secret, msg id, timestamp, payload and the expected signature);
// independently re-checked with Python's hmac in the integration test.
constexpr char kSpecSecret[] = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw";
constexpr char kSpecId[] = "msg_p5jXN8AQM9LWM0D4loKWxJek";
constexpr int64_t kSpecTimestamp = 1614265330;
constexpr char kSpecPayload[] = R"({"test": 2432232314})";
constexpr char kSpecSignature[] = "v1,g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OE=";

TEST(SignTest, MatchesStandardWebhooksVector) {
  TW_ASSERT_OK_AND_ASSIGN(std::string sig,
                          Sign({kSpecSecret}, kSpecId, kSpecTimestamp, kSpecPayload));
  EXPECT_EQ(sig, kSpecSignature);
}

TEST(SignTest, OneSignaturePerSecretForRotation) {
  TW_ASSERT_OK_AND_ASSIGN(std::string other, GenerateSecret());
  TW_ASSERT_OK_AND_ASSIGN(std::string sig,
                          Sign({kSpecSecret, other}, kSpecId, kSpecTimestamp, kSpecPayload));
  EXPECT_THAT(sig, StartsWith(std::string(kSpecSignature) + " v1,"));
  EXPECT_EQ(sig.size(), 2 * std::string(kSpecSignature).size() + 1);
}

TEST(SignTest, EveryByteIsSigned) {
  TW_ASSERT_OK_AND_ASSIGN(std::string a, Sign({kSpecSecret}, kSpecId, kSpecTimestamp, "{}"));
  TW_ASSERT_OK_AND_ASSIGN(std::string b, Sign({kSpecSecret}, kSpecId, kSpecTimestamp, "{} "));
  TW_ASSERT_OK_AND_ASSIGN(std::string c, Sign({kSpecSecret}, kSpecId, kSpecTimestamp + 1, "{}"));
  TW_ASSERT_OK_AND_ASSIGN(std::string d, Sign({kSpecSecret}, "msg_other", kSpecTimestamp, "{}"));
  EXPECT_NE(a, b);
  EXPECT_NE(a, c);
  EXPECT_NE(a, d);
}

TEST(SignTest, RefusesNoSecretOrABadOne) {
  EXPECT_THAT(Sign({}, kSpecId, 1, "{}"), StatusIs(StatusCode::kInvalidArgument, HasSubstr("no")));
  EXPECT_THAT(Sign({kSpecSecret, "whsec_!!"}, kSpecId, 1, "{}"),
              StatusIs(StatusCode::kInvalidArgument, HasSubstr("secret 2")));
}

TEST(SecretTest, GeneratedSecretsDecodeTo24RandomBytes) {
  TW_ASSERT_OK_AND_ASSIGN(std::string a, GenerateSecret());
  TW_ASSERT_OK_AND_ASSIGN(std::string b, GenerateSecret());
  EXPECT_THAT(a, StartsWith("whsec_"));
  EXPECT_EQ(a.size(), 6u + 32u);
  EXPECT_NE(a, b);
  TW_ASSERT_OK_AND_ASSIGN(std::string key, DecodeSecret(a));
  EXPECT_EQ(key.size(), 24u);
}

TEST(SecretTest, DecodeRejectsBadSecretsWithoutEchoingThem) {
  const std::string canary = "CANARYsecretCANARYsecretCANARYsecret";
  EXPECT_THAT(DecodeSecret(canary),
              StatusIs(StatusCode::kInvalidArgument,
                       ::testing::AllOf(HasSubstr("whsec_"), Not(HasSubstr("CANARY")))));
  EXPECT_THAT(DecodeSecret("whsec_" + canary + "!"),
              StatusIs(StatusCode::kInvalidArgument,
                       ::testing::AllOf(HasSubstr("base64"), Not(HasSubstr("CANARY")))));
  EXPECT_THAT(DecodeSecret("whsec_"), StatusIs(StatusCode::kInvalidArgument, HasSubstr("base64")));
  EXPECT_THAT(DecodeSecret("whsec_YWJj"),  // "abc": too short
              StatusIs(StatusCode::kInvalidArgument, HasSubstr("24..64 bytes, got 3")));
  EXPECT_THAT(DecodeSecret("whsec_" + std::string(88, 'A')),  // 66 bytes
              StatusIs(StatusCode::kInvalidArgument, HasSubstr("got 66")));
  EXPECT_THAT(DecodeSecret("whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaS"),  // length not 4k
              StatusIs(StatusCode::kInvalidArgument, HasSubstr("base64")));
  TW_EXPECT_OK(DecodeSecret("whsec_" + std::string(84, 'A') + "AA=="));  // 64 bytes
}

TEST(MessageIdTest, UlidShapedAndUnique) {
  std::set<std::string> seen;
  for (int i = 0; i < 1000; ++i) {
    std::string id = NewMessageId();
    ASSERT_EQ(id.size(), 30u) << id;
    ASSERT_THAT(id, StartsWith("msg_"));
    for (char c : id.substr(4)) {
      ASSERT_NE(std::string("0123456789ABCDEFGHJKMNPQRSTVWXYZ").find(c), std::string::npos) << id;
    }
    EXPECT_TRUE(seen.insert(id).second) << id;
  }
  // The leading time part makes later ids sort after earlier ones (same ms: random order).
  EXPECT_LE(NewMessageId().substr(0, 14), NewMessageId().substr(0, 14));
}

}  // namespace
}  // namespace tw::notify
