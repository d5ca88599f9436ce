// The webhook sender: claims due messages from the store's delivery queue, renders, signs and
// POSTs each one, and records the outcome on the Svix retry schedule.
//
// Time comes from the injected Clock (WallNow): what is due, when a retry comes due, when a
// lease expires and when a message was delivered are all the sender's clock, so a test with a
// FakeClock walks through eight attempts over 37 hours without sleeping. The database is real
// and the HTTP is real (notify::Deliver, with the SSRF guard at send time).
//
// Grouping and rate limiting are the store's claim (MessageClaim): the due events of one
// destination go out as one message (at most max_events_per_message; generic endpoints get one
// event per message), a retried message keeps its id and events, and a destination gets at most
// max_messages_per_minute messages in any minute. Events held back by the limit stay due and
// are coalesced into the next message.
//
// Thread safety: one SendDue at a time per WebhookSender; several senders (threads or daemons)
// may share a database.
#pragma once

#include <chrono>
#include <cstdint>
#include <string>

#include "common/clock.h"
#include "common/status.h"
#include "store/store.h"

namespace tw {

struct WebhookSenderOptions {
  std::chrono::milliseconds lease{60000};    // longer than one attempt can take
  std::chrono::milliseconds timeout{10000};  // connect, read and write, each
  int max_messages_per_round = 16;
  int max_events_per_message = 10;   // Discord takes at most 10 embeds
  int max_messages_per_minute = 20;  // per destination; 0: no limit
};

struct SendSummary {
  int messages = 0;   // attempted
  int events = 0;     // carried by those messages
  int delivered = 0;  // messages
  int retrying = 0;
  int dead = 0;
  int lost = 0;  // outcomes not recorded: the lease was lost to another sender
};

class WebhookSender {
 public:
  WebhookSender(Clock& clock, WebhookSenderOptions options);

  // One round: claims the due messages under `lease_token` (32 lowercase hex digits) and sends
  // them one after another. A store error while claiming is returned (the caller reconnects);
  // failures of single messages are recorded on them, never returned.
  StatusOr<SendSummary> SendDue(Store& store, const std::string& lease_token);

 private:
  Clock& clock_;
  WebhookSenderOptions options_;
};

}  // namespace tw
