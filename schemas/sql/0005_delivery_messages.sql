-- Deliveries become messages: the sender coalesces the due events of one destination into one
-- message (a burst of flags is one chat post, not twenty), and limits how many messages a
-- destination gets per minute. message_id is the webhook-id of the message that carries the
-- delivery; it is set at the first attempt and kept for every retry, so a retried message has
-- the same id and the same events. last_attempt_at is when the latest attempt started: the
-- per-destination rate limit counts the distinct messages attempted in the last minute.
ALTER TABLE tw.deliveries
  ADD COLUMN message_id text CHECK (message_id ~ '^msg_[0-9A-Za-z]{10,40}$'),
  ADD COLUMN last_attempt_at timestamptz;

CREATE INDEX deliveries_recent_attempts ON tw.deliveries (webhook_id, last_attempt_at)
  WHERE last_attempt_at IS NOT NULL;
CREATE INDEX deliveries_message ON tw.deliveries (message_id) WHERE message_id IS NOT NULL;
