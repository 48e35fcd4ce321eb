package workers

import (
	"context"

	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/codes"
	"go.opentelemetry.io/otel/trace"

	"github.com/reservo/reservo/event"
	"github.com/reservo/reservo/telemetry"
)

// Traced wraps h so that handling an event that carries a trace context (the change that
// wrote it, or the Kafka relay's span) is a consumer span in that trace: one trace shows a
// booking from its request to the consumers of its events. Each attempt is a span of its own.
// Events without a trace context are handled as they are.
func Traced(h Handler) Handler { return traced{h} }

type traced struct{ Handler }

func (t traced) Handle(ctx context.Context, e event.Envelope) error {
	if e.TraceParent == "" {
		return t.Handler.Handle(ctx, e)
	}
	name := t.Handler.Name()
	ctx, span := telemetry.Tracer().Start(telemetry.WithTraceParent(ctx, e.TraceParent), name+" "+string(e.Type),
		trace.WithSpanKind(trace.SpanKindConsumer), trace.WithAttributes(
			attribute.String("messaging.consumer.group.name", name), attribute.String("messaging.message.id", e.ID.String()),
			attribute.String("reservo.event.type", string(e.Type)), attribute.Int64("reservo.event.seq", e.Seq),
			attribute.String("reservo.event.key", e.Key)))
	defer span.End()
	err := t.Handler.Handle(ctx, e)
	if err != nil {
		span.RecordError(err)
		span.SetStatus(codes.Error, "handler failed")
	}
	return err
}
