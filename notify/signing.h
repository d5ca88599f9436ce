// Standard Webhooks signing (https://www.standardwebhooks.com, spec/standard-webhooks.md).
//
// A secret is "whsec_" + base64 of 24..64 random bytes. The signed content is
// "<msg_id>.<timestamp>.<body>" over the exact bytes sent; the `webhook-signature` header is a
// space-separated list of "v1,<base64 HMAC-SHA256>", one per secret, so a secret can be rotated
// without downtime (receivers accept any one that verifies).
//
// Secrets are credentials: nothing here logs them, and error messages never contain them.
// Thread-safe.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "common/message_id.h"
#include "common/status.h"

namespace tw::notify {

// "whsec_" + base64 of 24 bytes from RAND_bytes. Unavailable if the CSPRNG fails.
StatusOr<std::string> GenerateSecret();

// The raw key bytes of "whsec_<base64>". InvalidArgument (without echoing the secret) for a
// missing prefix, bad base64, or a key outside 24..64 bytes.
StatusOr<std::string> DecodeSecret(std::string_view whsec);

// The `webhook-signature` header value: "v1,<sig1> v1,<sig2> ..." one per secret, in order.
// InvalidArgument when `secrets` is empty or any secret does not decode.
StatusOr<std::string> Sign(const std::vector<std::string>& secrets, std::string_view msg_id,
                           int64_t timestamp, std::string_view body);

// "msg_" + 26 Crockford base32 characters (ULID layout: 48-bit millisecond time, then 80
// random bits), so ids sort by creation time. Used as the `webhook-id`, stable across retries.
using ::tw::NewMessageId;

}  // namespace tw::notify
