package api

import (
	"strconv"
	"strings"

	"github.com/gofiber/fiber/v2"
	"github.com/google/uuid"
	"github.com/valyala/fasthttp"
	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/codes"
	"go.opentelemetry.io/otel/trace"

	"github.com/reservo/reservo/telemetry"
)

// trace makes each request a server span that continues the caller's trace (its traceparent
// header) or starts one, and puts the request's identity (request id, and the user of a valid
// bearer token) in the request's context: the Temporal client carries both into the workflows
// it starts, and the log handler onto every line the request causes.
func (a *API) trace(c *fiber.Ctx) error {
	// Fiber's strings point into buffers reused after the request: copy what outlives it.
	method := strings.Clone(c.Method())
	ctx := telemetry.Propagator.Extract(c.UserContext(), headerCarrier{&c.Request().Header})
	ctx, span := telemetry.Tracer().Start(ctx, method, trace.WithSpanKind(trace.SpanKindServer))
	defer span.End()
	req := telemetry.Request{ID: requestID(c)}
	if p := a.optionalPrincipal(c); p.ID != uuid.Nil {
		req.UserID = p.ID.String()
	}
	c.SetUserContext(telemetry.WithRequest(ctx, req))

	err := c.Next()

	if span.IsRecording() {
		route := routeLabel(c)
		status := c.Response().StatusCode()
		span.SetName(method + " " + route)
		span.SetAttributes(attribute.String("http.request.method", method), attribute.String("http.route", route),
			attribute.Int("http.response.status_code", status), attribute.String("reservo.request_id", req.ID))
		if req.UserID != "" {
			span.SetAttributes(attribute.String("enduser.id", req.UserID))
		}
		if status >= 500 {
			span.SetStatus(codes.Error, strconv.Itoa(status))
		}
	}
	return err
}

// headerCarrier reads a trace context from a request's headers.
type headerCarrier struct{ h *fasthttp.RequestHeader }

func (c headerCarrier) Get(key string) string { return string(c.h.Peek(key)) }
func (c headerCarrier) Set(string, string)    {}
func (c headerCarrier) Keys() []string {
	var keys []string
	c.h.VisitAll(func(k, _ []byte) { keys = append(keys, string(k)) })
	return keys
}
