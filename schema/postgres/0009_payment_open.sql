-- Payments that need a look (`reservo ops stuck`): refunds that failed or stay pending, and
-- charges still pending on a closed booking. Succeeded rows, nearly all of them, stay out of
-- the index.
CREATE INDEX IF NOT EXISTS payment_open_idx ON payment (updated_at) WHERE status <> 'succeeded';
