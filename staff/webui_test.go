package staff_test

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/google/uuid"
	commonpb "go.temporal.io/api/common/v1"
	enumspb "go.temporal.io/api/enums/v1"
	"go.temporal.io/api/serviceerror"
	"go.temporal.io/api/workflowservice/v1"
	"go.temporal.io/sdk/client"
	"google.golang.org/protobuf/encoding/protojson"

	"github.com/reservo/reservo/auth"
	"github.com/reservo/reservo/postgres"
	"github.com/reservo/reservo/postgres/pgtest"
	"github.com/reservo/reservo/staff"
	"github.com/reservo/reservo/temporal/temporaltest"
	"github.com/reservo/reservo/user"
)

// TestStaffPlane_InFrontOfTheStacksWebUIAndFrontend runs the staff plane in front of the
// stack's Web UI and Temporal frontend (deploy/temporal-dev, which checks tokens): anonymous
// requests to the UI, its API or the frontend change nothing and read nothing; a signed-in
// member of staff lists a workflow through the UI's API and decodes its input through the
// codec server; writes through the UI are refused.
func TestStaffPlane_InFrontOfTheStacksWebUIAndFrontend(t *testing.T) {
	cfg := temporaltest.Config(t)
	if cfg.AuthKeys == "" {
		t.Fatal("RESERVO_TEMPORAL_AUTH_KEY is empty: run the stack (deploy/stack.sh up) and its env (deploy/stack.sh env)")
	}
	uiURL := os.Getenv("RESERVO_TEMPORAL_UI_URL")
	if uiURL == "" {
		uiURL = "http://127.0.0.1:8233"
	}
	ctx := context.Background()
	c := temporaltest.Dial(t)

	// A workflow nobody runs, with an input that must stay secret.
	secret := "pi_" + uuid.NewString() + "_secret"
	wid := "staff-probe-" + uuid.NewString()
	run, err := c.ExecuteWorkflow(ctx, client.StartWorkflowOptions{ID: wid, TaskQueue: "staff-probe-nobody-polls"}, "StaffProbe",
		map[string]string{"client_secret": secret})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = c.TerminateWorkflow(ctx, wid, "", "test over") })

	// Anonymous, straight to the frontend: refused, nothing changes.
	anon, err := client.Dial(client.Options{HostPort: cfg.Addr, Namespace: cfg.Namespace})
	if err != nil {
		t.Fatal(err)
	}
	defer anon.Close()
	var denied *serviceerror.PermissionDenied
	if _, err := anon.ListWorkflow(ctx, &workflowservice.ListWorkflowExecutionsRequest{Query: "WorkflowId = '" + wid + "'"}); !errors.As(err, &denied) {
		t.Fatalf("anonymous list: %v; want PermissionDenied (does the stack's Temporal check tokens? restart it with deploy/stack.sh)", err)
	}
	if err := anon.TerminateWorkflow(ctx, wid, "", "anonymous"); !errors.As(err, &denied) {
		t.Fatalf("anonymous terminate: %v; want PermissionDenied", err)
	}

	// Anonymous, straight to the Web UI and its API: nothing read, nothing changed.
	res, err := http.Get(uiURL + "/api/v1/namespaces/" + cfg.Namespace + "/workflows?query=" + url.QueryEscape("WorkflowId = '"+wid+"'"))
	if err != nil {
		t.Fatal(err)
	}
	b, _ := io.ReadAll(res.Body)
	res.Body.Close()
	if res.StatusCode == http.StatusOK || strings.Contains(string(b), wid) {
		t.Fatalf("anonymous UI API list: %d %s", res.StatusCode, b)
	}
	for _, action := range []string{"terminate", "reset", "signal/payment"} {
		res, err := http.Post(uiURL+"/api/v1/namespaces/"+cfg.Namespace+"/workflows/"+wid+"/"+action, "application/json", strings.NewReader(`{"reason":"x"}`))
		if err != nil {
			t.Fatal(err)
		}
		res.Body.Close()
		if res.StatusCode < 400 {
			t.Fatalf("anonymous UI %s: %d", action, res.StatusCode)
		}
	}

	// The staff plane in front of them, with a member of staff in the database.
	db := pgtest.NewDB(t)
	users := user.NewService(postgres.NewUserStore(db), time.Now)
	u, err := users.Register(ctx, user.NewUser{Email: "ada-" + uuid.NewString()[:8] + "@reservo.test", Password: "a-long-staff-password", Name: "Ada"})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := postgres.NewUserStore(db).SetRole(ctx, u.Email, auth.RoleStaff); err != nil {
		t.Fatal(err)
	}
	signer, _ := cfg.Signer()
	codec, _ := cfg.Codec()
	srv := httptest.NewUnstartedServer(nil)
	srv.Start()
	t.Cleanup(srv.Close)
	ui, _ := url.Parse(uiURL)
	pub, _ := url.Parse(srv.URL)
	h, err := staff.New(staff.Config{UI: ui, PublicURL: pub, Namespace: cfg.Namespace, Users: users, Signer: signer, Codec: codec,
		SessionSecret: bytes.Repeat([]byte("k"), 32), Logger: slog.New(slog.DiscardHandler)})
	if err != nil {
		t.Fatal(err)
	}
	srv.Config.Handler = h
	e := &env{t: t, srv: srv}
	browser := e.client()
	status(t, e.do(browser, "GET", "/namespaces/default/workflows", nil), http.StatusSeeOther) // sign in first
	status(t, e.signIn(browser, u.Email, "a-long-staff-password"), http.StatusSeeOther)

	// The UI's API, through the staff plane: the workflow is listed (the UI's own page and
	// settings load too).
	var listed struct {
		Executions []struct {
			Execution struct {
				WorkflowID string `json:"workflowId"`
			} `json:"execution"`
		} `json:"executions"`
	}
	for deadline := time.Now().Add(10 * time.Second); len(listed.Executions) == 0; time.Sleep(200 * time.Millisecond) {
		res := e.do(browser, "GET", "/api/v1/namespaces/"+cfg.Namespace+"/workflows?query="+url.QueryEscape("WorkflowId = '"+wid+"'"), nil)
		status(t, res, http.StatusOK)
		if err := json.NewDecoder(res.Body).Decode(&listed); err != nil {
			t.Fatal(err)
		}
		if time.Now().After(deadline) {
			t.Fatal("the workflow is not listed through the staff plane")
		}
	}
	status(t, e.do(browser, "GET", "/namespaces/default/workflows", nil), http.StatusOK)
	res = e.do(browser, "GET", "/api/v1/settings", nil)
	status(t, res, http.StatusOK)
	var settings struct {
		Codec struct {
			Endpoint           string
			IncludeCredentials bool
		}
		DisableWriteActions bool
	}
	if err := json.NewDecoder(res.Body).Decode(&settings); err != nil || !settings.DisableWriteActions || !settings.Codec.IncludeCredentials ||
		!strings.HasSuffix(settings.Codec.Endpoint, "/codec") {
		t.Fatalf("the UI's settings %+v, %v: want write actions off and the staff plane's codec", settings, err)
	}

	// Its input as the UI gets it (ciphertext), decoded by the codec server as the browser asks.
	res = e.do(browser, "GET", "/api/v1/namespaces/"+cfg.Namespace+"/workflows/"+wid+"/history?maximumPageSize=5", nil)
	status(t, res, http.StatusOK)
	raw, _ := io.ReadAll(res.Body)
	if bytes.Contains(raw, []byte(secret)) {
		t.Fatal("the UI's API shows the secret in clear")
	}
	hist, err := c.WorkflowService().GetWorkflowExecutionHistory(ctx, &workflowservice.GetWorkflowExecutionHistoryRequest{
		Namespace: cfg.Namespace, Execution: &commonpb.WorkflowExecution{WorkflowId: wid, RunId: run.GetRunID()}})
	if err != nil {
		t.Fatal(err)
	}
	input := hist.GetHistory().GetEvents()[0].GetWorkflowExecutionStartedEventAttributes().GetInput()
	body, _ := protojson.Marshal(input)
	res = e.do(browser, "POST", "/codec/decode", bytes.NewReader(body), "Content-Type", "application/json", "Origin", srv.URL, "X-Namespace", cfg.Namespace)
	status(t, res, http.StatusOK)
	dec, _ := io.ReadAll(res.Body)
	var decoded commonpb.Payloads
	if err := protojson.Unmarshal(dec, &decoded); err != nil || !strings.Contains(string(decoded.GetPayloads()[0].GetData()), secret) {
		t.Fatalf("decoded %s, %v", dec, err)
	}

	// Writes through the UI: refused by the staff plane.
	for _, action := range []string{"terminate", "reset", "signal/payment"} {
		status(t, e.do(browser, "POST", "/api/v1/namespaces/"+cfg.Namespace+"/workflows/"+wid+"/"+action, strings.NewReader(`{"reason":"x"}`),
			"Origin", srv.URL), http.StatusForbidden)
	}
	desc, err := c.DescribeWorkflow(ctx, wid, "")
	if err != nil || desc.RawResponse.GetWorkflowExecutionInfo().GetStatus() != enumspb.WORKFLOW_EXECUTION_STATUS_RUNNING {
		t.Fatalf("the probe after every attempt: %v, %v; want it running", desc, err)
	}
}
