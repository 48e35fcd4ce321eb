-- Notifications of the notifier (package notify): one row per (event, channel, recipient), written
-- before anything is sent, so that a consumer that retries or restarts finds what it already sent.
-- Reminders use a UUIDv5 of the booking id as their event id.
CREATE TABLE notification (
    id             uuid PRIMARY KEY,
    event_id       uuid NOT NULL,
    channel        text NOT NULL CHECK (channel IN ('email', 'webhook', 'feed')),
    -- user: a guest (users.id); manager: one manager (vendor_manager.id), for e-mail; vendor: the
    -- vendor (vendor.id), for its webhook and for the feed that all its managers share.
    recipient_kind text NOT NULL CHECK (recipient_kind IN ('user', 'manager', 'vendor')),
    recipient_id   uuid NOT NULL,
    booking_id     uuid,
    kind           text NOT NULL CHECK (kind IN ('new_booking', 'booking_updated', 'booking_cancelled',
                   'booking_expired', 'booking_availed', 'reminder')),
    -- Where it goes: the e-mail address or the webhook URL as they were when the row was written,
    -- so that a retry sends the same message to the same place; NULL for the feed.
    address        text CHECK (address IS NULL OR length(address) <= 2048),
    subject        text NOT NULL CHECK (length(subject) <= 500),
    body           text NOT NULL,
    -- feed and e-mail: ids, status and link for clients; webhook: the JSON body that is signed.
    payload        jsonb NOT NULL DEFAULT '{}',
    -- failed means the last attempt failed; the row is tried again when its event is retried.
    state          text NOT NULL DEFAULT 'pending' CHECK (state IN ('pending', 'sent', 'failed')),
    attempts       integer NOT NULL DEFAULT 0 CHECK (attempts >= 0),
    last_error     text,
    created_at     timestamptz NOT NULL DEFAULT now(),
    sent_at        timestamptz,
    read_at        timestamptz,
    UNIQUE (event_id, channel, recipient_id),
    CONSTRAINT notification_address CHECK ((channel = 'feed') = (address IS NULL))
);

-- The in-app feed, newest first, paginated by (created_at, id).
CREATE INDEX notification_feed_idx ON notification (recipient_id, created_at DESC, id DESC)
    WHERE channel = 'feed';
-- What is still to send, for operators (SELECT ... WHERE state <> 'sent').
CREATE INDEX notification_unsent_idx ON notification (created_at) WHERE state <> 'sent';
