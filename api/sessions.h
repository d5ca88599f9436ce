// Browser sessions for the dashboard's pages when the server has a token: the token is typed once
// into the login form, and what the browser keeps is a session cookie, never the token.
//
//   tw_session=<issued>.<mac>; HttpOnly; SameSite=Strict; Path=/; Max-Age=43200
//
// <issued> is the issue time in Unix seconds, <mac> the hex HMAC-SHA256 of "tw_session/v1/<issued>"
// under a 32-byte key drawn from the CSPRNG when the server starts. So a cookie
//   - cannot be made without the key (which never leaves the process) and says nothing about the
//     token;
//   - expires max_age after it was issued, and at once when the daemon restarts (a new key);
//   - cannot be revoked one by one: restarting the daemon logs every browser out.
// No state is kept per session, so the server needs no store and no lock for it.
//
// Thread safety: const methods may be called from any thread.
#pragma once

#include <chrono>
#include <memory>
#include <optional>
#include <string>
#include <string_view>

#include "common/clock.h"
#include "common/status.h"

namespace tw::api {

inline constexpr std::string_view kSessionCookieName = "tw_session";

// Whether `presented` is the token whose SHA-256 hex digest is `token_digest`, compared in
// constant time over the digests (which have a fixed length, so timing says nothing about the
// token's length or prefix). The bearer header and the login form both use it.
bool TokenMatchesDigest(std::string_view presented, const std::string& token_digest);

class BrowserSessions {
 public:
  // Unavailable when the CSPRNG fails; InvalidArgument for an empty token or max_age <= 0.
  static StatusOr<std::unique_ptr<BrowserSessions>> Create(
      std::string_view token, std::chrono::seconds max_age = std::chrono::hours(12));

  // The login form's check: the same comparison as the bearer token's.
  bool TokenMatches(std::string_view presented) const;
  // A fresh cookie value issued at `now`.
  std::string Mint(WallTime now) const;
  // Whether `value` is a cookie this process issued, at most max_age ago (and not in the future
  // by more than a minute of clock adjustment).
  bool Valid(std::string_view value, WallTime now) const;
  // The whole Set-Cookie header value for a cookie issued at `now`. No Secure attribute: the
  // server speaks plain HTTP (put a TLS proxy in front beyond loopback; docs/api.md).
  std::string SetCookieHeader(WallTime now) const;
  std::chrono::seconds max_age() const { return max_age_; }

  // The value of the tw_session cookie in a Cookie header ("a=1; tw_session=...; b=2"), if any.
  // Several Cookie headers joined with ", " are understood too.
  static std::optional<std::string> FindCookie(std::string_view cookie_header);

 private:
  BrowserSessions(std::string token_digest, std::string key, std::chrono::seconds max_age);
  std::string Mac(std::string_view issued) const;

  std::string token_digest_;
  std::string key_;
  std::chrono::seconds max_age_;
};

}  // namespace tw::api
