-- A booking's deposit can be more than one charge: the first deposit and the extra deposit of
-- each change that raised it. A refund names the charge it returns money from, so that what
-- is left to refund of each charge is known (activities.Refund draws a refund from every
-- succeeded charge of the booking, none beyond its amount). Refunds written before this
-- column all returned money of the first deposit: NULL reads as that charge.
ALTER TABLE payment ADD COLUMN IF NOT EXISTS charge_key text;
