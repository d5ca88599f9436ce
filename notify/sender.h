// One webhook delivery attempt over HTTP(S), with the SSRF guard on the address actually dialled.
//
// Deliver resolves the URL's host, checks EVERY resolved address with CheckAddress (one refused
// address refuses the delivery, so a name cannot mix a public and an internal address), then
// connects to the first checked address itself: the host name is mapped to that address for the
// connection, while the Host header, TLS SNI and certificate verification use the URL's host.
// Redirects are never followed (a 3xx comes back as it is). Bounded: connect, read and write
// timeouts of `timeout` each, and at most the first 256 bytes of the response body are kept
// (the rest is not read). Blocking; thread-safe (no shared state).
#pragma once

#include <chrono>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "common/status.h"
#include "notify/destination.h"

namespace tw::notify {

using HttpHeaders = std::vector<std::pair<std::string, std::string>>;

struct DeliveryAttempt {
  int http_status = 0;  // 0 when no HTTP answer was received
  std::optional<std::chrono::seconds> retry_after;
  std::string response_snippet;  // first 256 bytes of the body
  // Non-OK when there was no usable answer: resolution failure, SSRF refusal
  // (PermissionDenied), connect failure or timeout (Unavailable / DeadlineExceeded), a
  // malformed answer (DataLoss); also set for a 3xx ("redirect not followed"), with http_status
  // kept. Messages name the URL only in redacted form (RedactUrl).
  Status error;
  std::chrono::milliseconds elapsed{0};
};

inline constexpr size_t kResponseSnippetBytes = 256;

// POSTs `body` with Content-Type application/json plus `headers`. Header names or values with
// CR, LF or NUL refuse the attempt (InvalidArgument). Never throws.
DeliveryAttempt Deliver(const WebhookUrl& url, bool allow_private, const HttpHeaders& headers,
                        const std::string& body, std::chrono::milliseconds timeout);

// webhook-id, webhook-timestamp (unix seconds) and webhook-signature (from Sign()).
HttpHeaders StandardWebhookHeaders(std::string_view msg_id, int64_t timestamp,
                                   std::string_view signature);

}  // namespace tw::notify
