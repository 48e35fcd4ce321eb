package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"strconv"
	"strings"
	"time"

	"github.com/google/uuid"
	"go.temporal.io/sdk/client"

	"github.com/reservo/reservo/activities"
	"github.com/reservo/reservo/auth"
	"github.com/reservo/reservo/config"
	"github.com/reservo/reservo/ops"
	"github.com/reservo/reservo/postgres"
	"github.com/reservo/reservo/redis"
	"github.com/reservo/reservo/workers"
)

// runOps runs the support tooling; it prints results to stdout and nothing else.
func runOps(ctx context.Context, args []string, getenv func(string) string, stdout, stderr io.Writer) error {
	if len(args) == 0 {
		return errors.New("ops: want stuck, show, retry, release, history, replay, parked, unpark, grant-staff or revoke-staff (see reservo help)")
	}
	logger := slog.New(slog.NewTextHandler(stderr, &slog.HandlerOptions{Level: slog.LevelWarn}))
	if args[0] == "replay" {
		if len(args) != 2 {
			return errors.New("usage: reservo ops replay <history.json>")
		}
		if err := ops.Replay(args[1], logger); err != nil {
			return fmt.Errorf("replay %s: %w", args[1], err)
		}
		fmt.Fprintf(stdout, "replay %s: ok, deterministic\n", args[1])
		return nil
	}
	cfg, err := config.Load(getenv)
	if err != nil {
		return err
	}
	db, err := postgres.Open(ctx, cfg.DatabaseURL, 2)
	if err != nil {
		return err
	}
	defer db.Close()
	if args[0] == "grant-staff" || args[0] == "revoke-staff" {
		if len(args) != 2 {
			return fmt.Errorf("usage: reservo ops %s <e-mail>", args[0])
		}
		role := auth.RoleStaff
		if args[0] == "revoke-staff" {
			role = auth.RoleUser
		}
		u, err := postgres.NewUserStore(db).SetRole(ctx, args[1], role)
		if err != nil {
			return err
		}
		// The API checks every token against the account's state in Redis: a grant applies to
		// the tokens already issued from their next request on, a revocation refuses them.
		rc := redis.New(cfg.RedisAddr, cfg.RedisPassword)
		defer func() { _ = rc.Close() }()
		when := "at once"
		if err := redis.NewTokenStates(rc, nil, tokenStateTTL).Put(ctx, u.ID, u.TokenState()); err != nil {
			fmt.Fprintf(stderr, "ops: %v\n", err)
			when = "within " + tokenStateTTL.String() + " (Redis did not answer)"
		}
		effect := "staff on their next request, with the tokens they have"
		if u.Role != auth.RoleStaff {
			effect = "a guest; every token issued before is refused"
		}
		fmt.Fprintf(stdout, "%s (%s) is now %s: %s, %s\n", u.Email, u.ID, u.Role, effect, when)
		return nil
	}
	tc, err := client.Dial(temporalOptions(cfg, logger))
	if err != nil {
		return fmt.Errorf("temporal: %w", err)
	}
	defer tc.Close()
	o := ops.New(tc, cfg.TemporalNamespace, postgres.NewBookingStore(db), time.Now).WithPayments(postgres.NewPaymentStore(db))
	need := func(n int, usage string) error {
		if len(args) < n {
			return errors.New("usage: reservo ops " + usage)
		}
		return nil
	}
	switch args[0] {
	case "stuck":
		limit := 1000
		if len(args) > 1 {
			if limit, err = strconv.Atoi(args[1]); err != nil || limit <= 0 {
				return errors.New("usage: reservo ops stuck [limit]")
			}
		}
		stuck, err := o.Stuck(ctx, limit, time.Minute)
		if err != nil {
			return err
		}
		for _, s := range stuck {
			fmt.Fprintf(stdout, "%s\t%s\t%s\n", s.BookingID, s.Status, s.Reason)
		}
		fmt.Fprintf(stdout, "%d stuck\n", len(stuck))
		return nil
	case "parked":
		consumer := ""
		if len(args) > 1 {
			consumer = args[1]
		}
		parked, err := postgres.NewEventLog(db).Parked(ctx, consumer)
		if err != nil {
			return err
		}
		for _, p := range parked {
			fmt.Fprintf(stdout, "%s\t%s\t%s\tseq %d\t%d attempts\t%s\t%s\n", p.Consumer, p.Event.ID, p.Event.Type, p.Event.Seq,
				p.Attempts, p.ParkedAt.Format(time.RFC3339), p.Error)
		}
		fmt.Fprintf(stdout, "%d parked\n", len(parked))
		return nil
	case "unpark":
		if err := need(3, "unpark <consumer> <event-id>"); err != nil {
			return err
		}
		id, err := uuid.Parse(args[2])
		if err != nil {
			return fmt.Errorf("event id: %w", err)
		}
		eng, err := openEngines(ctx, cfg, db)
		if err != nil {
			return err
		}
		defer eng.close()
		hs, err := handlers(cfg, db, eng, logger)
		if err != nil {
			return err
		}
		for _, h := range hs {
			if h.Name() == args[1] {
				if err := workers.ReplayParked(ctx, postgres.NewEventLog(db), h, id); err != nil {
					return err
				}
				fmt.Fprintf(stdout, "%s handled %s again; unparked\n", args[1], id)
				return nil
			}
		}
		return fmt.Errorf("ops: no consumer %q", args[1])
	case "show":
		if err := need(2, "show <booking>"); err != nil {
			return err
		}
		return o.Show(ctx, args[1], stdout)
	case "release":
		if err := need(2, "release <booking>"); err != nil {
			return err
		}
		acts := &activities.Activities{Payments: postgres.NewPaymentStore(db), Provider: paymentProvider(cfg), Now: time.Now}
		msg, err := o.Release(ctx, args[1], acts)
		if msg != "" {
			fmt.Fprintln(stdout, msg)
		}
		return err
	case "retry":
		if err := need(2, "retry <booking> [reason]"); err != nil {
			return err
		}
		reason := "retried by support with reservo ops retry"
		if len(args) > 2 {
			reason = strings.Join(args[2:], " ")
		}
		run, err := o.Retry(ctx, args[1], reason)
		if err != nil {
			return err
		}
		fmt.Fprintf(stdout, "reset %s: new run %s\n", args[1], run)
		return nil
	case "history":
		if err := need(2, "history <booking> [file]"); err != nil {
			return err
		}
		w := stdout
		if len(args) > 2 {
			f, err := os.Create(args[2])
			if err != nil {
				return err
			}
			defer f.Close()
			w = f
		}
		return o.WriteHistory(ctx, args[1], w)
	}
	return fmt.Errorf("ops: unknown command %q", args[0])
}
