package api

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/jackc/pgx/v5/pgconn"
	goredis "github.com/redis/go-redis/v9"
)

// TestToProblem_AnUnreachableDependencyIs503: a database or Redis that cannot be reached, or
// PostgreSQL shutting down, answers 503 temporarily_unavailable (the handler adds Retry-After),
// not 500; what is not such an error stays a 500.
func TestToProblem_AnUnreachableDependencyIs503(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	_, pgErr := pgconn.Connect(ctx, "postgres://reservo:x@127.0.0.1:1/none?sslmode=disable&connect_timeout=2")
	redisErr := goredis.NewClient(&goredis.Options{Addr: "127.0.0.1:1", MaxRetries: -1}).Ping(ctx).Err()
	for name, c := range map[string]struct {
		err  error
		want int
	}{
		"postgres refused":           {fmt.Errorf("vendor by id: %w", pgErr), 503},
		"redis refused":              {fmt.Errorf("cache: %w", redisErr), 503},
		"postgres connection closed": {fmt.Errorf("finish payment by ref: begin: %w", pgconn.ErrConnClosed), 503},
		"postgres shutdown":          {fmt.Errorf("hold: %w", &pgconn.PgError{Code: "57P01", Message: "terminating connection due to administrator command"}), 503},
		"a bug":                      {fmt.Errorf("hold: %w", &pgconn.PgError{Code: "42703", Message: "column does not exist"}), 500},
	} {
		if c.err == nil {
			t.Fatalf("%s: no error to map", name)
		}
		if p := toProblem(c.err); p.Status != c.want || (c.want == 503 && p.Code != "temporarily_unavailable") {
			t.Errorf("%s (%v): %d %s; want %d", name, c.err, p.Status, p.Code, c.want)
		}
	}
}
