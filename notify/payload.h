// The outbox payload of a flag event (written by reports/transfer_checks.cc in the same
// transaction as the flag) read back into a FlagEvent for rendering.
#pragma once

#include <string>
#include <string_view>

#include "common/status.h"
#include "notify/event.h"

namespace tw::notify {

// InvalidArgument naming the field when the payload is not what the producer writes.
StatusOr<FlagEvent> FlagEventFromPayload(std::string_view event_id, std::string_view event_type,
                                         std::string_view payload_json);

}  // namespace tw::notify
