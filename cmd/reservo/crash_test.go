package main

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"os/signal"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/google/uuid"

	"github.com/reservo/reservo/auth"
	"github.com/reservo/reservo/booking"
	"github.com/reservo/reservo/postgres"
	"github.com/reservo/reservo/postgres/pgtest"
	"github.com/reservo/reservo/temporal"
	"github.com/reservo/reservo/temporal/temporaltest"
)

// TestMain lets the test binary run as `reservo worker` (or the command RESERVO_TEST_RUN names)
// in a process of its own, so that a test can kill it with SIGKILL.
func TestMain(m *testing.M) {
	cmd := os.Getenv("RESERVO_TEST_RUN")
	if os.Getenv("RESERVO_TEST_RUN_WORKER") == "1" {
		cmd = "worker"
	}
	if cmd != "" {
		ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGINT, syscall.SIGTERM)
		defer stop()
		if err := run(ctx, []string{cmd}, os.Getenv, os.Stdout, os.Stderr); err != nil {
			fmt.Fprintln(os.Stderr, err)
			os.Exit(1)
		}
		os.Exit(0)
	}
	os.Exit(m.Run())
}

func startWorker(t *testing.T, env []string) *exec.Cmd {
	t.Helper()
	cmd := exec.Command(os.Args[0], "-test.run=^$")
	cmd.Env = append(os.Environ(), append(env, "RESERVO_TEST_RUN_WORKER=1")...)
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		_ = cmd.Process.Kill()
		_ = cmd.Wait()
	})
	return cmd
}

// TestWorkerKilledMidSaga_EverySagaFinishesAndChargesOnce kills the worker process with
// SIGKILL while sagas wait for and receive payments, starts another, and checks that every
// booking is confirmed with exactly one deposit charge.
func TestWorkerKilledMidSaga_EverySagaFinishesAndChargesOnce(t *testing.T) {
	db, url := pgtest.NewDBURL(t)
	ctx := context.Background()
	now := time.Now
	v, room := pgtest.SeedHotel(t, db, 20)
	u := pgtest.SeedUser(t, db)

	queue := "crash-" + uuid.NewString()
	tcfg := temporaltest.Config(t)
	// The worker process decrypts with the test's payload keys; one guest stands for ten.
	env := []string{"RESERVO_DATABASE_URL=" + url, "RESERVO_TEMPORAL_TASK_QUEUE=" + queue, "RESERVO_PAYMENT_PROVIDER=sandbox", "RESERVO_LOG_LEVEL=warn",
		"RESERVO_MAX_HOLDS_PER_GUEST=0", "RESERVO_PAYLOAD_KEYS=" + tcfg.PayloadKeys, "RESERVO_PAYLOAD_KEY_ID=" + tcfg.PayloadKeyID}
	c := temporaltest.Dial(t)
	store := postgres.NewBookingStore(db)
	svc := booking.NewService(postgres.NewVendorStore(db), store,
		temporal.NewEngine(c, temporal.Config{TaskQueue: queue, HoldTimeout: 5 * time.Minute, LatePaymentWindow: time.Minute, AutoAvailAfter: 72 * time.Hour}, store), now)

	first := startWorker(t, env)
	const n = 10
	holds := make([]*booking.Hold, n)
	day := time.Now().AddDate(0, 0, 14)
	var wg sync.WaitGroup
	for i := range n {
		wg.Add(1)
		go func() {
			defer wg.Done()
			in := day.AddDate(0, 0, i%3).Format("2006-01-02")
			out := day.AddDate(0, 0, i%3+2).Format("2006-01-02")
			h, err := svc.Book(ctx, u.ID, v.ID, booking.Request{ItineraryID: room.ID, Quantity: 1, PartySize: 2, CheckIn: in, CheckOut: out}, "")
			if err != nil {
				t.Errorf("book %d: %v", i, err)
				return
			}
			holds[i] = h
		}()
	}
	wg.Wait()
	if t.Failed() {
		return
	}
	for _, h := range holds[:n/2] {
		if err := svc.Pay(ctx, h.Booking.ID, h.ProviderRef, "succeeded"); err != nil {
			t.Fatal(err)
		}
	}
	if err := first.Process.Kill(); err != nil { // SIGKILL, mid-saga
		t.Fatal(err)
	}
	_ = first.Wait()
	for _, h := range holds[n/2:] {
		if err := svc.Pay(ctx, h.Booking.ID, h.ProviderRef, "succeeded"); err != nil {
			t.Fatal(err)
		}
	}
	startWorker(t, env)

	payments := postgres.NewPaymentStore(db)
	for _, h := range holds {
		b, err := svc.WaitStatus(ctx, auth.Principal{ID: u.ID, Role: auth.RoleUser}, h.Booking.ID, booking.Blocked, 45*time.Second)
		if err != nil || b.Status != booking.Confirmed {
			t.Fatalf("booking %s: %+v, %v; want CONFIRMED after the crash", h.Booking.ID, b, err)
		}
		recs, err := payments.ByBooking(ctx, h.Booking.ID)
		if err != nil || len(recs) != 1 {
			t.Fatalf("booking %s has %d payment records (%v); want exactly one deposit", h.Booking.ID, len(recs), err)
		}
	}
	var held, booked int
	if err := db.Pool.QueryRow(ctx, `SELECT sum(held), sum(booked) FROM bookable_itinerary_slot`).Scan(&held, &booked); err != nil {
		t.Fatal(err)
	}
	if held != 0 || booked != 2*n {
		t.Fatalf("held %d booked %d; want 0 and %d nights", held, booked, 2*n)
	}
}
