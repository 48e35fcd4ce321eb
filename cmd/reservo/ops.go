package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"os"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/google/uuid"
	enumspb "go.temporal.io/api/enums/v1"
	"go.temporal.io/api/operatorservice/v1"
	"go.temporal.io/api/serviceerror"
	"go.temporal.io/api/workflowservice/v1"
	"go.temporal.io/sdk/client"
	"google.golang.org/protobuf/types/known/durationpb"

	"github.com/reservo/reservo/activities"
	"github.com/reservo/reservo/audit"
	"github.com/reservo/reservo/auth"
	"github.com/reservo/reservo/config"
	"github.com/reservo/reservo/ops"
	"github.com/reservo/reservo/payment"
	"github.com/reservo/reservo/postgres"
	"github.com/reservo/reservo/redis"
	"github.com/reservo/reservo/temporal"
	"github.com/reservo/reservo/workers"
	"github.com/reservo/reservo/workflows"
)

const opsUsage = `usage: reservo ops <command> [flags]; every action (retry, release, terminate, signal, unpark,
grant-staff, revoke-staff, token) needs --reason and is audited; --operator names who acts (default: the OS user)`

// opsFlags parses args whose flags may come before, between or after the positional
// arguments, and returns the positional ones.
func opsFlags(fs *flag.FlagSet, args []string) ([]string, error) {
	fs.SetOutput(io.Discard)
	var pos []string
	for {
		if err := fs.Parse(args); err != nil {
			return nil, fmt.Errorf("ops %s: %w", fs.Name(), err)
		}
		if args = fs.Args(); len(args) == 0 {
			return pos, nil
		}
		pos, args = append(pos, args[0]), args[1:]
	}
}

// runOps runs the support tooling; it prints results to stdout and nothing else.
func runOps(ctx context.Context, args []string, getenv func(string) string, stdout, stderr io.Writer) error {
	if len(args) == 0 {
		return errors.New(opsUsage)
	}
	cmd := args[0]
	fs := flag.NewFlagSet(cmd, flag.ContinueOnError)
	operator := fs.String("operator", "", "who acts (default: the OS user)")
	reason := fs.String("reason", "", "why (required for every action)")
	limit := fs.Int("limit", 0, "how many at most")
	grace := fs.Duration("grace", time.Minute, "stuck: how long past its hold a running booking may stay BLOCKED")
	force := fs.Bool("force", false, "retry: reset a closed workflow too")
	event := fs.Int64("event", 0, "retry: reset to the last workflow task completed at or before this event")
	before := fs.String("before", "", "retry: reset to the workflow task that scheduled this activity (BlockSlots: the start)")
	email := fs.String("email", "", "find: the guest's e-mail")
	vendor := fs.String("vendor", "", "find: the vendor's id or part of its name")
	encoded := fs.Bool("encoded", false, "history: as Temporal stores it (payloads encrypted)")
	bookingID := fs.String("booking", "", "replay, audit: the booking")
	running := fs.Bool("running", false, "replay: every running workflow")
	ttl := fs.Duration("ttl", time.Hour, "token: lifetime (at most 12h)")
	write := fs.Bool("write", false, "token: may also write (reset, terminate, signal through the CLI)")
	pos, err := opsFlags(fs, args[1:])
	if err != nil {
		return err
	}
	need := func(n int, usage string) error {
		if len(pos) < n {
			return errors.New("usage: reservo ops " + usage)
		}
		return nil
	}
	logger := slog.New(slog.NewTextHandler(stderr, &slog.HandlerOptions{Level: slog.LevelWarn}))
	cfg, err := config.Load(getenv)
	if err != nil {
		return err
	}
	if *operator == "" {
		*operator = ops.Operator()
	}
	tcfg := temporalConfig(cfg, logger, "ops:"+*operator, nil)
	codec, err := tcfg.Codec()
	if err != nil {
		return fmt.Errorf("payload keys: %w", err)
	}
	oc := ops.Config{Namespace: cfg.TemporalNamespace, Operator: *operator}
	if codec != nil {
		oc.Codec = codec
	}

	if cmd == "replay" && *bookingID == "" && !*running {
		// A saved file needs neither the database nor Temporal.
		if err := need(1, "replay <history.json> | --booking <id> | --running [--limit N]"); err != nil {
			return err
		}
		if err := ops.New(oc).ReplayFile(pos[0], logger); err != nil {
			return fmt.Errorf("replay %s: %w", pos[0], err)
		}
		fmt.Fprintf(stdout, "replay %s: ok, deterministic\n", pos[0])
		return nil
	}
	if cmd == "token" {
		return opsToken(ctx, cfg, oc, *reason, *ttl, *write, stdout)
	}

	db, err := postgres.Open(ctx, cfg.DatabaseURL, 2)
	if err != nil {
		return err
	}
	defer db.Close()
	oc.Bookings, oc.Finder, oc.Payments, oc.Audit = postgres.NewBookingStore(db), postgres.NewOpsStore(db), postgres.NewPaymentStore(db), postgres.NewAuditStore(db)
	switch cmd {
	case "grant-staff", "revoke-staff":
		if err := need(1, cmd+" <e-mail> --reason '...'"); err != nil {
			return err
		}
		role := auth.RoleStaff
		if cmd == "revoke-staff" {
			role = auth.RoleUser
		}
		msg, err := ops.New(oc).Audited(ctx, audit.Entry{Action: cmd, Target: pos[0], Reason: *reason}, func() (string, error) {
			u, err := postgres.NewUserStore(db).SetRole(ctx, pos[0], role)
			if err != nil {
				return "", err
			}
			// The API checks every token against the account's state in Redis: a grant applies
			// to the tokens already issued from their next request on, a revocation refuses them.
			rc := redis.New(cfg.RedisAddr, cfg.RedisPassword)
			defer func() { _ = rc.Close() }()
			when := "at once"
			if err := redis.NewTokenStates(rc, nil, tokenStateTTL).Put(ctx, u.ID, u.TokenState()); err != nil {
				fmt.Fprintf(stderr, "ops: %v\n", err)
				when = "within " + tokenStateTTL.String() + " (Redis did not answer)"
			}
			effect := "staff on their next request, with the tokens they have (and at their next staff plane sign-in)"
			if u.Role != auth.RoleStaff {
				effect = "a guest; every token issued before is refused, and the staff plane ends their session within a minute"
			}
			return fmt.Sprintf("%s (%s) is now %s: %s, %s", u.Email, u.ID, u.Role, effect, when), nil
		})
		if msg != "" {
			fmt.Fprintln(stdout, msg)
		}
		return err
	case "audit":
		f := audit.Filter{Limit: *limit}
		if *bookingID != "" {
			id, err := uuid.Parse(*bookingID)
			if err != nil {
				return fmt.Errorf("booking id: %w", err)
			}
			f.BookingID = uuid.NullUUID{UUID: id, Valid: true}
		}
		if len(pos) > 0 {
			f.Operator = pos[0]
		}
		entries, err := oc.Audit.List(ctx, f)
		if err != nil {
			return err
		}
		tw := tabwriter.NewWriter(stdout, 2, 4, 2, ' ', 0)
		fmt.Fprintln(tw, "id\twhen\toperator\taction\tbooking\ttarget\treason\toutcome\tdetail")
		for _, e := range entries {
			b := ""
			if e.BookingID.Valid {
				b = e.BookingID.UUID.String()
			}
			fmt.Fprintf(tw, "%d\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\n", e.ID, e.At.UTC().Format(time.RFC3339), e.Operator, e.Action, b, e.Target,
				e.Reason, e.Outcome, e.Detail)
		}
		if err := tw.Flush(); err != nil {
			return err
		}
		fmt.Fprintf(stdout, "%d entries\n", len(entries))
		return nil
	case "parked":
		consumer := ""
		if len(pos) > 0 {
			consumer = pos[0]
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
		if err := need(2, "unpark <consumer> <event-id> --reason '...'"); err != nil {
			return err
		}
		id, err := uuid.Parse(pos[1])
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
			if h.Name() != pos[0] {
				continue
			}
			msg, err := ops.New(oc).Audited(ctx, audit.Entry{Action: "unpark", Target: pos[0] + " " + id.String(), Reason: *reason}, func() (string, error) {
				if err := workers.ReplayParked(ctx, postgres.NewEventLog(db), h, id); err != nil {
					return "", err
				}
				return fmt.Sprintf("%s handled %s again; unparked", pos[0], id), nil
			})
			if msg != "" {
				fmt.Fprintln(stdout, msg)
			}
			return err
		}
		return fmt.Errorf("ops: no consumer %q", pos[0])
	}

	opts, err := temporal.ClientOptions(tcfg)
	if err != nil {
		return err
	}
	if cmd == "temporal-setup" {
		tcfg.Permissions = temporal.AdminPermissions(cfg.TemporalNamespace)
		if opts, err = temporal.ClientOptions(tcfg); err != nil {
			return err
		}
	}
	tc, err := client.Dial(opts)
	if err != nil {
		return fmt.Errorf("temporal: %w", err)
	}
	defer tc.Close()
	oc.Client = tc
	o := ops.New(oc)
	switch cmd {
	case "stuck":
		n := *limit
		if n <= 0 {
			n = 1000
		}
		scan, err := o.Scan(ctx, n, *grace)
		if err != nil {
			return err
		}
		for _, s := range scan.Stuck {
			fmt.Fprintf(stdout, "%s\t%s\t%s\n\tfix: %s\n", s.BookingID, s.Status, s.Reason, s.Fix)
		}
		more := ""
		if scan.More {
			more = fmt.Sprintf("; there are more: raise --limit (now %d)", n)
		}
		fmt.Fprintf(stdout, "%d stuck (examined %d running booking workflows and %d open bookings%s)\n", len(scan.Stuck), scan.Running, scan.Open, more)
		return nil
	case "show":
		if err := need(1, "show <booking>"); err != nil {
			return err
		}
		return o.Show(ctx, pos[0], stdout)
	case "find":
		n := *limit
		if n <= 0 {
			n = 50
		}
		found, err := o.Find(ctx, *email, *vendor, n)
		if err != nil {
			return fmt.Errorf("%w (usage: reservo ops find --email <e-mail> | --vendor <id or name> [--limit N])", err)
		}
		tw := tabwriter.NewWriter(stdout, 2, 4, 2, ' ', 0)
		fmt.Fprintln(tw, "booking\tstatus\tworkflow\tstarts\tvendor\tguest\tcreated")
		for _, f := range found {
			fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%s\t%s\n", f.ID, f.Status, f.Workflow, f.StartsAt.UTC().Format(time.RFC3339), f.VendorID,
				f.UserID, f.CreatedAt.UTC().Format(time.RFC3339))
		}
		if err := tw.Flush(); err != nil {
			return err
		}
		fmt.Fprintf(stdout, "%d bookings\n", len(found))
		return nil
	case "release":
		if err := need(1, "release <booking> --reason '...'"); err != nil {
			return err
		}
		acts := &activities.Activities{Payments: postgres.NewPaymentStore(db), Provider: paymentProvider(cfg), Now: time.Now}
		msg, err := o.Release(ctx, pos[0], *reason, acts)
		if msg != "" {
			fmt.Fprintln(stdout, msg)
		}
		return err
	case "retry":
		if err := need(1, "retry <booking> --reason '...' [--force] [--event N | --before <activity>]"); err != nil {
			return err
		}
		r, err := o.Retry(ctx, pos[0], ops.RetryOptions{Reason: *reason, Force: *force, EventID: *event, BeforeActivity: *before})
		if err != nil {
			return err
		}
		fmt.Fprintf(stdout, "reset %s (%s) to event %d: new run %s\n", pos[0], r.From, r.EventID, r.RunID)
		return nil
	case "terminate":
		if err := need(1, "terminate <booking> --reason '...'"); err != nil {
			return err
		}
		if err := o.Terminate(ctx, pos[0], *reason); err != nil {
			return err
		}
		fmt.Fprintf(stdout, "terminated the workflow of %s; a BLOCKED booking keeps its units until reservo ops release\n", pos[0])
		return nil
	case "signal":
		if err := need(3, "signal <booking> payment succeeded|failed --reason '...'"); err != nil {
			return err
		}
		if pos[1] != workflows.SignalPayment {
			return fmt.Errorf("ops signal: only %q is a signal of the booking workflow", workflows.SignalPayment)
		}
		if err := o.SignalPayment(ctx, pos[0], payment.Status(pos[2]), *reason); err != nil {
			return err
		}
		fmt.Fprintf(stdout, "signalled payment %s to %s\n", pos[2], pos[0])
		return nil
	case "history":
		if err := need(1, "history <booking> [file] [--encoded]"); err != nil {
			return err
		}
		w := stdout
		if len(pos) > 1 {
			f, err := os.Create(pos[1])
			if err != nil {
				return err
			}
			defer f.Close()
			w = f
		}
		return o.WriteHistory(ctx, pos[0], w, *encoded)
	case "replay":
		if *bookingID != "" {
			if err := o.ReplayBooking(ctx, *bookingID, logger); err != nil {
				return fmt.Errorf("replay %s: %w", *bookingID, err)
			}
			fmt.Fprintf(stdout, "replay %s: ok, deterministic\n", *bookingID)
			return nil
		}
		n := *limit
		if n <= 0 {
			n = 100000
		}
		rep, err := o.ReplayRunning(ctx, n, logger, stdout)
		if err != nil {
			return err
		}
		fmt.Fprintf(stdout, "%d running workflows replayed, %d failed\n", rep.Replayed, len(rep.Failed))
		if len(rep.Failed) > 0 {
			return fmt.Errorf("replay: %d running workflows are not deterministic with this build", len(rep.Failed))
		}
		return nil
	case "temporal-setup":
		return temporalSetup(ctx, tc, cfg.TemporalNamespace, stdout)
	}
	return fmt.Errorf("ops: unknown command %q (see reservo help)", cmd)
}

// maxTokenTTL bounds the tokens ops hands out.
const maxTokenTTL = 12 * time.Hour

// opsToken prints a Temporal token for the official CLI (--api-key, and the codec server's
// --codec-auth), read only unless write, after recording who asked for it and why. What the
// CLI then does is not audited by Reservo (Temporal records the token's subject as the
// identity of each change): hence read only by default.
func opsToken(ctx context.Context, cfg *config.Config, oc ops.Config, reason string, ttl time.Duration, write bool, stdout io.Writer) error {
	signer, err := temporalConfig(cfg, nil, "", nil).Signer()
	if err != nil {
		return err
	}
	if signer == nil {
		return errors.New("ops token: RESERVO_TEMPORAL_AUTH_KEY is empty (a server that checks no token needs none)")
	}
	if ttl <= 0 || ttl > maxTokenTTL {
		return fmt.Errorf("ops token: --ttl %s: want up to %s", ttl, maxTokenTTL)
	}
	perms := temporal.ReaderPermissions(cfg.TemporalNamespace)
	if write {
		perms = append(temporal.WriterPermissions(cfg.TemporalNamespace), temporal.SystemNamespace+":read")
	}
	subject := "staff:" + oc.Operator
	db, err := postgres.Open(ctx, cfg.DatabaseURL, 1)
	if err != nil {
		return err
	}
	defer db.Close()
	oc.Audit = postgres.NewAuditStore(db)
	var token string
	_, err = ops.New(oc).Audited(ctx, audit.Entry{Action: "token", Target: subject + " " + strings.Join(perms, ","), Reason: reason},
		func() (string, error) {
			var exp time.Time
			token, exp, err = signer.Token(subject, perms, ttl)
			return "valid until " + exp.UTC().Format(time.RFC3339), err
		})
	if err != nil {
		return err
	}
	fmt.Fprintln(stdout, token)
	return nil
}

// temporalSetup registers the namespace (retention 72 h) and the booking workflows' search
// attributes when missing: what deploy/temporal-dev does at its start, for a Temporal cluster
// of its own (deploy/k8s runs it as a Job).
func temporalSetup(ctx context.Context, tc client.Client, namespace string, stdout io.Writer) error {
	_, err := tc.WorkflowService().DescribeNamespace(ctx, &workflowservice.DescribeNamespaceRequest{Namespace: namespace})
	var nf *serviceerror.NamespaceNotFound
	if errors.As(err, &nf) {
		_, err = tc.WorkflowService().RegisterNamespace(ctx, &workflowservice.RegisterNamespaceRequest{Namespace: namespace,
			WorkflowExecutionRetentionPeriod: durationpb.New(72 * time.Hour)})
		if err == nil {
			fmt.Fprintf(stdout, "namespace %s registered\n", namespace)
		}
	}
	if err != nil {
		return fmt.Errorf("namespace %s: %w", namespace, err)
	}
	attrs := map[string]enumspb.IndexedValueType{}
	for _, k := range []string{workflows.SABookingID.GetName(), workflows.SAVendorID.GetName(), workflows.SAUserID.GetName(), workflows.SABookingStatus.GetName()} {
		attrs[k] = enumspb.INDEXED_VALUE_TYPE_KEYWORD
	}
	// A namespace just registered may take a moment to be known to every service.
	for attempt := 0; ; attempt++ {
		var have *operatorservice.ListSearchAttributesResponse
		have, err = tc.OperatorService().ListSearchAttributes(ctx, &operatorservice.ListSearchAttributesRequest{Namespace: namespace})
		if err == nil {
			for name := range have.GetCustomAttributes() {
				delete(attrs, name)
			}
			if len(attrs) == 0 {
				break
			}
			_, err = tc.OperatorService().AddSearchAttributes(ctx, &operatorservice.AddSearchAttributesRequest{Namespace: namespace, SearchAttributes: attrs})
			var exists *serviceerror.AlreadyExists
			if err == nil || errors.As(err, &exists) {
				break
			}
		}
		if attempt == 20 {
			return fmt.Errorf("search attributes: %w", err)
		}
		time.Sleep(time.Second)
	}
	fmt.Fprintf(stdout, "namespace %s has the search attributes BookingID, VendorID, UserID, BookingStatus\n", namespace)
	return nil
}
