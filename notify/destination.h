// Webhook destinations: URL parsing, address resolution and the SSRF guard.
//
// The guard runs on every address a host resolves to, at send time, and the sender then
// connects to the checked address itself (sender.h), so DNS rebinding between the check and the
// connect cannot reach an internal address. Thread-safe.
#pragma once

#include <string>
#include <string_view>
#include <vector>

#include "common/status.h"

namespace tw::notify {

struct WebhookUrl {
  std::string scheme;          // "http" or "https", lower case
  std::string host;            // lower case; an IPv6 literal without its brackets
  std::string path_and_query;  // starts with "/"; the fragment is dropped
  int port = 0;                // explicit or the scheme's default
};

// http/https only; no userinfo ("user:pass@"); a host is required; port 1..65535; at most 2048
// characters; no whitespace or control characters. InvalidArgument naming the problem (the
// message never repeats the path or query, which often hold the token).
StatusOr<WebhookUrl> ParseWebhookUrl(std::string_view url);

// Every address `host` resolves to (getaddrinfo), as numeric strings ("10.0.0.1", "::1"),
// without duplicates, in resolver order. A literal address (including inet_aton forms such as
// "2130706433" or "0x7f.1") resolves to itself, normalized. Unavailable when resolution fails.
StatusOr<std::vector<std::string>> ResolveHost(const std::string& host);

// OK when `ip` (a numeric IPv4 or IPv6 string) may be dialled. Unless `allow_private`, refuses
// with PermissionDenied naming the range: loopback, unspecified/"this network", private
// (RFC 1918, fc00::/7), link-local (169.254/16 with the cloud metadata address, fe80::/10),
// shared CGNAT 100.64/10, multicast, broadcast and reserved 240/4, documentation and
// benchmarking nets, and IPv4 addresses embedded in IPv6 (mapped, compatible, NAT64 64:ff9b::/96,
// 6to4 2002::/16) when the embedded address is refused; Teredo and local-use NAT64 are refused
// outright. InvalidArgument when `ip` is not a numeric address.
Status CheckAddress(const std::string& ip, bool allow_private);

// For logs and errors: "https://hooks.slack.com/***" (scheme, host and a non-default port;
// the path and query, which carry tokens in chat webhook URLs, are replaced by "***").
std::string RedactUrl(const WebhookUrl& url);

}  // namespace tw::notify
