package telemetry

import (
	"context"
	"log/slog"

	"go.opentelemetry.io/otel/trace"
)

// LogHandler wraps h so that every record logged with a context names what the context
// carries: trace_id and span_id (a log line leads to its trace in Jaeger), and request_id and
// user_id of the request that caused the work, unless the line names them itself.
func LogHandler(h slog.Handler) slog.Handler { return logHandler{h} }

type logHandler struct{ slog.Handler }

func (h logHandler) Handle(ctx context.Context, r slog.Record) error {
	if ctx != nil {
		if sc := trace.SpanContextFromContext(ctx); sc.IsValid() {
			r.AddAttrs(slog.String("trace_id", sc.TraceID().String()), slog.String("span_id", sc.SpanID().String()))
		}
		if req, ok := RequestFrom(ctx); ok {
			hasID, hasUser := false, false
			r.Attrs(func(a slog.Attr) bool {
				hasID = hasID || a.Key == "request_id"
				hasUser = hasUser || a.Key == "user_id"
				return true
			})
			if req.ID != "" && !hasID {
				r.AddAttrs(slog.String("request_id", req.ID))
			}
			if req.UserID != "" && !hasUser {
				r.AddAttrs(slog.String("user_id", req.UserID))
			}
		}
	}
	return h.Handler.Handle(ctx, r)
}

func (h logHandler) WithAttrs(as []slog.Attr) slog.Handler {
	return logHandler{h.Handler.WithAttrs(as)}
}

func (h logHandler) WithGroup(name string) slog.Handler { return logHandler{h.Handler.WithGroup(name)} }
