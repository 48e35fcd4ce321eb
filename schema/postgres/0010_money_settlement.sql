-- Money under faults (issue 11).

-- A guest's open holds are counted at every hold (RESERVO_MAX_HOLDS_PER_GUEST): the BLOCKED
-- bookings by guest, a small index.
CREATE INDEX IF NOT EXISTS booking_user_blocked_idx ON booking (user_id) WHERE status = 'BLOCKED';

-- The Idempotency-Key of a booking request, with the fingerprint of the request it came with:
-- the same key with another request is refused instead of answered with the first booking.
CREATE TABLE IF NOT EXISTS idempotency_key (
    user_id     uuid NOT NULL,
    key         text NOT NULL,
    fingerprint text NOT NULL,
    booking_id  uuid NOT NULL,
    created_at  timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (user_id, key)
);
CREATE INDEX IF NOT EXISTS idempotency_key_created_idx ON idempotency_key (created_at);

-- When a payment first succeeded; and, for a charge that succeeded after its booking's money
-- was settled (or the booking purged), when it was found stray: money no step of the saga
-- accounts for, refunded whole by a workflow of its own.
ALTER TABLE payment ADD COLUMN IF NOT EXISTS succeeded_at timestamptz;
ALTER TABLE payment ADD COLUMN IF NOT EXISTS stray_at timestamptz;
UPDATE payment SET succeeded_at = updated_at WHERE status = 'succeeded' AND succeeded_at IS NULL;
CREATE INDEX IF NOT EXISTS payment_stray_idx ON payment (stray_at) WHERE stray_at IS NOT NULL;

-- What the app needs to pay a charge (a PaymentIntent's client secret), read by the API for
-- the guest, so that it is never in a workflow's history.
ALTER TABLE payment ADD COLUMN IF NOT EXISTS client_secret text;

-- What the vendor keeps of a booking's money, fixed when the saga made its last decision about
-- it. Not purged with the booking.
CREATE TABLE IF NOT EXISTS payment_settlement (
    booking_id uuid PRIMARY KEY,
    kept       bigint NOT NULL CHECK (kept >= 0),
    settled_at timestamptz NOT NULL DEFAULT now()
);

-- Bookings closed before this migration are settled as they stand, but for what an expired or
-- failed booking kept: nothing of it is the vendor's, and what is left of it is found stray.
WITH money AS (
    SELECT b.id, b.status, b.updated_at,
           coalesce(sum(p.amount) FILTER (WHERE p.kind = 'charge' AND p.status = 'succeeded'), 0)
         - coalesce(sum(p.amount) FILTER (WHERE p.kind = 'refund' AND p.status <> 'failed'), 0) AS paid
    FROM booking b LEFT JOIN payment p ON p.booking_id = b.id
    WHERE b.status IN ('CANCELLED', 'AVAILED', 'NO_SHOW', 'EXPIRED', 'FAILED')
    GROUP BY b.id)
INSERT INTO payment_settlement (booking_id, kept, settled_at)
SELECT id, CASE WHEN status IN ('EXPIRED', 'FAILED') THEN 0 ELSE greatest(paid, 0) END, updated_at FROM money
ON CONFLICT (booking_id) DO NOTHING;

UPDATE payment c SET stray_at = now()
FROM booking b
WHERE c.booking_id = b.id AND b.status IN ('EXPIRED', 'FAILED') AND c.kind = 'charge' AND c.status = 'succeeded'
  AND c.amount > coalesce((SELECT sum(r.amount) FROM payment r WHERE r.booking_id = c.booking_id AND r.kind = 'refund'
                           AND r.status <> 'failed' AND coalesce(r.charge_key, 'booking:' || c.booking_id || ':deposit') = c.idempotency_key), 0);

-- A guest is told of a stray charge's refund (notify.KindRefund).
ALTER TABLE notification DROP CONSTRAINT IF EXISTS notification_kind_check;
ALTER TABLE notification ADD CONSTRAINT notification_kind_check CHECK (kind IN ('new_booking', 'booking_updated',
    'booking_cancelled', 'booking_expired', 'booking_availed', 'reminder', 'refund'));
