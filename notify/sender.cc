#include "notify/sender.h"

// The pkg-config flags of cpp-httplib (OpenSSL, zlib, brotli support) reach this file through
// dep::httplib; they must match the compiled library (docs/platform-notes).
#include <httplib.h>

#include <map>
#include <memory>

#include "notify/retry.h"

namespace tw::notify {
namespace {

bool HasControlChars(std::string_view s) {
  for (char c : s) {
    if (c == '\r' || c == '\n' || c == '\0') return true;
  }
  return false;
}

std::string HostHeader(const WebhookUrl& url) {
  std::string host = url.host.find(':') != std::string::npos ? "[" + url.host + "]" : url.host;
  int default_port = url.scheme == "https" ? 443 : 80;
  if (url.port != default_port) host += ":" + std::to_string(url.port);
  return host;
}

Status ErrorFor(httplib::Error error, const std::string& where) {
  switch (error) {
    case httplib::Error::ConnectionTimeout:
      return DeadlineExceededError("connecting to " + where + " timed out");
    case httplib::Error::Connection:
      return UnavailableError("cannot connect to " + where);
    case httplib::Error::Read:
      return UnavailableError("no valid HTTP response from " + where +
                              " (timed out, connection closed, or a malformed answer)");
    case httplib::Error::Write:
      return UnavailableError("sending the request to " + where + " failed");
    case httplib::Error::SSLConnection:
      return UnavailableError("TLS handshake with " + where + " failed");
    case httplib::Error::SSLServerVerification:
      return UnavailableError("TLS certificate of " + where + " did not verify");
    case httplib::Error::SSLLoadingCerts:
      return UnavailableError("cannot load the TLS trust store for " + where);
    default:
      return UnavailableError("request to " + where + " failed: " + httplib::to_string(error));
  }
}

}  // namespace

HttpHeaders StandardWebhookHeaders(std::string_view msg_id, int64_t timestamp,
                                   std::string_view signature) {
  return {{"webhook-id", std::string(msg_id)},
          {"webhook-timestamp", std::to_string(timestamp)},
          {"webhook-signature", std::string(signature)}};
}

DeliveryAttempt Deliver(const WebhookUrl& url, bool allow_private, const HttpHeaders& headers,
                        const std::string& body, std::chrono::milliseconds timeout) {
  DeliveryAttempt attempt;
  const auto start = std::chrono::steady_clock::now();
  auto finish = [&]() -> DeliveryAttempt {
    attempt.elapsed = std::chrono::duration_cast<std::chrono::milliseconds>(
        std::chrono::steady_clock::now() - start);
    return attempt;
  };
  const std::string where = RedactUrl(url);
  try {
    if (url.scheme != "http" && url.scheme != "https") {
      attempt.error = InvalidArgumentError("webhook URL scheme must be http or https");
      return finish();
    }
    for (const auto& [name, value] : headers) {
      if (name.empty() || HasControlChars(name) || HasControlChars(value)) {
        attempt.error = InvalidArgumentError("webhook header '" + name.substr(0, 64) +
                                             "' contains CR, LF or NUL");
        return finish();
      }
    }
    StatusOr<std::vector<std::string>> addresses = ResolveHost(url.host);
    if (!addresses.ok()) {
      attempt.error = addresses.status();
      return finish();
    }
    // Every address, not only the one dialled: a name must not mix public and internal ones.
    for (const std::string& ip : *addresses) {
      Status allowed = CheckAddress(ip, allow_private);
      if (!allowed.ok()) {
        attempt.error = allowed.WithContext("refusing " + where);
        return finish();
      }
    }
    const std::string& ip = addresses->front();

    std::unique_ptr<httplib::ClientImpl> client;
    if (url.scheme == "https") {
      auto ssl = std::make_unique<httplib::SSLClient>(url.host, url.port);
      ssl->enable_server_certificate_verification(true);
      client = std::move(ssl);
    } else {
      client = std::make_unique<httplib::ClientImpl>(url.host, url.port);
    }
    // Dial the checked address; Host, SNI and certificate checks keep using the name.
    client->set_hostname_addr_map({{url.host, ip}});
    client->set_follow_location(false);
    client->set_keep_alive(false);
    client->set_connection_timeout(timeout);
    client->set_read_timeout(timeout);
    client->set_write_timeout(timeout);

    httplib::Request req;
    req.method = "POST";
    req.path = url.path_and_query;
    req.headers.emplace("Host", HostHeader(url));
    req.headers.emplace("User-Agent", "TransferWatch-Webhook/1");
    for (const auto& [name, value] : headers) req.headers.emplace(name, value);
    req.headers.emplace("Content-Type", "application/json");
    req.body = body;
    int status = 0;
    httplib::Headers response_headers;
    req.response_handler = [&](const httplib::Response& r) {
      status = r.status;
      response_headers = r.headers;
      return true;
    };
    std::string snippet;
    req.content_receiver = [&](const char* data, size_t len, uint64_t, uint64_t) {
      size_t room = kResponseSnippetBytes - snippet.size();
      snippet.append(data, std::min(room, len));
      return snippet.size() < kResponseSnippetBytes;  // stop reading once we have enough
    };
    httplib::Response res;
    httplib::Error error = httplib::Error::Success;
    bool sent = client->send(req, res, error);
    // httplib calls response_handler only when a body follows: a 204 (or any empty answer)
    // has its status in `res` alone.
    if (status == 0 && sent) {
      status = res.status;
      response_headers = res.headers;
    }
    if (status == 0) {
      attempt.error = ErrorFor(sent ? httplib::Error::Unknown : error, where);
      return finish();
    }
    // A status line was received; a body cut short by us (Canceled) or by the peer is fine.
    attempt.http_status = status;
    attempt.response_snippet = std::move(snippet);
    auto retry_after = response_headers.find("Retry-After");
    if (retry_after != response_headers.end()) {
      attempt.retry_after = ParseRetryAfter(retry_after->second, std::chrono::system_clock::now());
    }
    if (status >= 300 && status <= 399) {
      attempt.error =
          FailedPreconditionError("redirect not followed: " + where + " answered " +
                                  std::to_string(status) + " (webhook redirects are not allowed)");
    }
    return finish();
  } catch (const std::exception& e) {  // httplib or the allocator
    attempt.error = UnknownError("webhook delivery to " + where + " failed: " + e.what());
    return finish();
  }
}

}  // namespace tw::notify
