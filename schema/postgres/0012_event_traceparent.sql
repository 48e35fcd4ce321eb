-- The trace context (W3C traceparent) of the change that wrote each event, so that the event's
-- relay and consumers continue that trace; empty (NULL) when the change was not traced.
ALTER TABLE event_log ADD COLUMN traceparent text;
