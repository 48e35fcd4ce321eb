package postgres

import (
	"github.com/exaring/otelpgx"
	"github.com/jackc/pgx/v5"
)

// tracer makes a span of each statement, batch and COPY issued inside a recorded span (the
// HTTP request, the activity): a statement with no such parent, like a consumer's poll, makes
// none. The text of the statement is kept, its arguments (guests' data) are not. Pools get it
// only when tracing is on (telemetry.Enabled): otherwise a statement pays nothing for it.
func tracer() pgx.QueryTracer {
	return otelpgx.NewTracer(otelpgx.WithDisableAcquireTracer())
}
