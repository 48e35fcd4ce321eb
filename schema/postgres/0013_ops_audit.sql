-- What support staff did by hand with `reservo ops` (retry, release, terminate, signal,
-- grant-staff, ...): who, what, which booking, why, when, and how it ended. A row is written
-- before the action (outcome 'started') and finished after it.
CREATE TABLE ops_audit (
    id          bigserial PRIMARY KEY,
    at          timestamptz NOT NULL DEFAULT now(),
    operator    text NOT NULL CHECK (operator <> ''),
    action      text NOT NULL CHECK (action <> ''),
    booking_id  uuid,
    target      text NOT NULL DEFAULT '',
    reason      text NOT NULL CHECK (reason <> ''),
    outcome     text NOT NULL DEFAULT 'started' CHECK (outcome IN ('started', 'done', 'failed')),
    detail      text NOT NULL DEFAULT '',
    -- The workflow run an action replaced in Temporal (ops release), as Temporal held it.
    history     jsonb,
    finished_at timestamptz
);
CREATE INDEX ops_audit_at_idx ON ops_audit (at DESC);
CREATE INDEX ops_audit_booking_idx ON ops_audit (booking_id, at DESC) WHERE booking_id IS NOT NULL;

-- `reservo ops stuck` walks the open bookings (held or confirmed) by id, to find those whose
-- workflow no longer runs.
CREATE INDEX booking_open_idx ON booking (id) WHERE status IN ('BLOCKED', 'CONFIRMED');
