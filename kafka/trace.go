package kafka

import (
	"context"

	kafkago "github.com/segmentio/kafka-go"
	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/codes"
	"go.opentelemetry.io/otel/trace"

	"github.com/reservo/reservo/event"
	"github.com/reservo/reservo/telemetry"
)

// HeaderTraceParent is the message header with the W3C trace context of the relay's producer
// span, a child of the change that wrote the event: consumers continue the trace from it.
const HeaderTraceParent = "traceparent"

// traceProduce starts a producer span for each event that carries a trace context (a child of
// it) and puts that span's context in its message's traceparent header. end ends the spans once
// Kafka answered: the first done were written, the rest failed with err.
func traceProduce(ctx context.Context, evs []event.Envelope, msgs []kafkago.Message) (end func(done int, err error)) {
	spans := make([]trace.Span, len(evs))
	for i, e := range evs {
		if e.TraceParent == "" {
			continue
		}
		sctx, span := telemetry.Tracer().Start(telemetry.WithTraceParent(ctx, e.TraceParent), "publish "+string(e.Type),
			trace.WithSpanKind(trace.SpanKindProducer), trace.WithAttributes(
				attribute.String("messaging.system", "kafka"), attribute.String("messaging.destination.name", msgs[i].Topic),
				attribute.String("messaging.message.id", e.ID.String()), attribute.Int64("reservo.event.seq", e.Seq)))
		spans[i] = span
		if tp := telemetry.TraceParent(sctx); tp != "" {
			msgs[i].Headers = append(msgs[i].Headers, kafkago.Header{Key: HeaderTraceParent, Value: []byte(tp)})
		}
	}
	return func(done int, err error) {
		for i, span := range spans {
			if span == nil {
				continue
			}
			if i >= done && err != nil {
				span.RecordError(err)
				span.SetStatus(codes.Error, "not written")
			}
			span.End()
		}
	}
}

// traceParentHeader is the message's traceparent header, or "".
func traceParentHeader(m kafkago.Message) string {
	for _, h := range m.Headers {
		if h.Key == HeaderTraceParent {
			return string(h.Value)
		}
	}
	return ""
}
