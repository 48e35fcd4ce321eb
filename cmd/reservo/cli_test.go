//go:build clitest

package main

import (
	"bytes"
	"context"
	"net/http/httptest"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/google/uuid"

	"github.com/reservo/reservo/payment"
	"github.com/reservo/reservo/staff"
	"github.com/reservo/reservo/temporal/temporaltest"
	"github.com/reservo/reservo/user"
	"github.com/reservo/reservo/workflows"
)

// The official Temporal CLI against the stack, as support staff use it (make cli-test: it
// needs the CLI that make cli builds, about 9 minutes cold, so it is not part of make test;
// reservo ops, which covers the same operations, is).

// cliPath is the CLI that make cli built.
func cliPath(t *testing.T) string {
	p := os.Getenv("RESERVO_TEMPORAL_CLI")
	if p == "" {
		data := os.Getenv("RESERVO_DATA_DIR")
		if data == "" {
			data = "../../.data"
		}
		p = filepath.Join(data, "bin", "temporal")
	}
	if _, err := os.Stat(p); err != nil {
		t.Fatalf("the Temporal CLI: %v (make cli builds it)", err)
	}
	return p
}

func TestTemporalCLI_StaffFindReadDecodeAndResetABooking(t *testing.T) {
	bin := cliPath(t)
	d := newDrill(t)
	l := d.newLine()
	cfg := temporaltest.Config(t)
	if cfg.AuthKeys == "" {
		t.Fatal("RESERVO_TEMPORAL_AUTH_KEY is empty: the stack's Temporal checks tokens (deploy/stack.sh env sets it)")
	}
	// The staff plane's codec server, with the stack's keys.
	signer, _ := cfg.Signer()
	codec, _ := cfg.Codec()
	srv := httptest.NewUnstartedServer(nil)
	srv.Start()
	t.Cleanup(srv.Close)
	pub, _ := url.Parse(srv.URL)
	ui, _ := url.Parse("http://127.0.0.1:1")
	h, err := staff.New(staff.Config{UI: ui, PublicURL: pub, Namespace: cfg.Namespace, Users: noUsers{}, Signer: signer, Codec: codec,
		SessionSecret: bytes.Repeat([]byte("x"), 32)})
	if err != nil {
		t.Fatal(err)
	}
	srv.Config.Handler = h

	readToken := strings.TrimSpace(d.mustOps("token", "--reason", "cli test: read"))
	writeToken := strings.TrimSpace(d.mustOps("token", "--write", "--reason", "cli test: reset"))
	cli := func(token string, codecOn bool, args ...string) (string, error) {
		cmd := exec.Command(bin, args...)
		cmd.Env = append(os.Environ(), "TEMPORAL_ADDRESS="+cfg.Addr, "TEMPORAL_NAMESPACE="+cfg.Namespace, "TEMPORAL_TLS=false")
		if token != "" {
			cmd.Env = append(cmd.Env, "TEMPORAL_API_KEY="+token)
		}
		if codecOn {
			cmd.Env = append(cmd.Env, "TEMPORAL_CODEC_ENDPOINT="+srv.URL+"/codec", "TEMPORAL_CODEC_AUTH=Bearer "+token)
		}
		out, err := cmd.CombinedOutput()
		return string(out), err
	}
	must := func(out string, err error) string {
		t.Helper()
		if err != nil {
			t.Fatalf("temporal: %v\n%s", err, out)
		}
		return out
	}

	hold := l.book("")
	id := hold.Booking.ID.String()
	wid := workflows.BookingWorkflowID(id)
	query := "BookingID='" + id + "' AND BookingStatus='BLOCKED'"

	if out := must(cli(readToken, true, "workflow", "list", "--query", query)); !strings.Contains(out, wid) {
		t.Fatalf("workflow list:\n%s", out)
	}
	if out := must(cli(readToken, true, "workflow", "count", "--query", query)); !strings.Contains(out, "Total: 1") {
		t.Fatalf("workflow count:\n%s", out)
	}
	if out := must(cli(readToken, true, "workflow", "describe", "-w", wid)); !strings.Contains(out, "Pending Activities") || !strings.Contains(out, `\"BLOCKED\"`) {
		t.Fatalf("workflow describe:\n%s", out)
	}
	if out := must(cli(readToken, true, "workflow", "stack", "-w", wid)); !strings.Contains(out, "coroutine") {
		t.Fatalf("workflow stack:\n%s", out)
	}
	// Decoded through the codec server: the deposit's provider reference reads; without the
	// codec it is ciphertext.
	if out := must(cli(readToken, true, "workflow", "show", "-w", wid, "--detailed")); !strings.Contains(out, hold.ProviderRef) {
		t.Fatalf("workflow show through the codec server lacks the provider reference %s:\n%s", hold.ProviderRef, out)
	}
	if out := must(cli(readToken, false, "workflow", "show", "-w", wid, "--detailed")); strings.Contains(out, hold.ProviderRef) ||
		!strings.Contains(out, "YmluYXJ5L2VuY3J5cHRlZA==") {
		t.Fatalf("workflow show without the codec shows plaintext:\n%s", out)
	}

	// No token, or a read-only one: nothing changes.
	if out, err := cli("", false, "workflow", "list"); err == nil || !strings.Contains(strings.ToLower(out), "unauthorized") {
		t.Fatalf("anonymous list: %v\n%s", err, out)
	}
	if out, err := cli(readToken, false, "workflow", "reset", "-w", wid, "--type", "LastWorkflowTask", "--reason", "read only"); err == nil {
		t.Fatalf("a reset with a read-only token: %s", out)
	}
	if out, err := cli(readToken, false, "workflow", "terminate", "-w", wid, "--reason", "read only"); err == nil {
		t.Fatalf("a terminate with a read-only token: %s", out)
	}
	// With a writer's token, the reset works, and the saga goes on in the new run.
	must(cli(writeToken, true, "workflow", "reset", "-w", wid, "--type", "LastWorkflowTask", "--reason", "cli test"))
	if err := l.svc.Pay(context.Background(), hold.Booking.ID, hold.ProviderRef, string(payment.Succeeded)); err != nil {
		t.Fatal(err)
	}
	d.waitStatus(hold.Booking.ID, "CONFIRMED")
	if out := must(cli(readToken, true, "workflow", "count", "--query", "BookingID='"+id+"' AND BookingStatus='CONFIRMED'")); !strings.Contains(out, "Total: 1") {
		t.Fatalf("after the reset and the payment:\n%s", out)
	}
}

// noUsers signs nobody in: the CLI's codec calls carry a token.
type noUsers struct{}

func (noUsers) Authenticate(context.Context, string, string) (*user.User, error) {
	return nil, user.ErrInvalidCredentials
}

func (noUsers) Get(context.Context, uuid.UUID) (*user.User, error) { return nil, user.ErrNotFound }
