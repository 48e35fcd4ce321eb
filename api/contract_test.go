package api_test

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"sync"
	"testing"

	"github.com/getkin/kin-openapi/openapi3"
	"github.com/getkin/kin-openapi/openapi3filter"
	"github.com/getkin/kin-openapi/routers"
	"github.com/getkin/kin-openapi/routers/legacy"

	"github.com/reservo/reservo/api"
	"github.com/reservo/reservo/validate"
)

// The OpenAPI document is the single source of the contract: every request an API test sends
// through env.send is checked against it, and so is every answer. An answer the document does
// not describe (a status, a content type, a body, a required header) fails the test, and so
// does a success for a request the document refuses.

var docRouter = sync.OnceValues(func() (routers.Router, error) {
	doc, err := openapi3.NewLoader().LoadFromData(api.OpenAPIYAML)
	if err != nil {
		return nil, err
	}
	if err := doc.Validate(context.Background()); err != nil {
		return nil, err
	}
	doc.Servers = openapi3.Servers{{URL: "/"}} // any host: the tests' requests go to example.com
	return legacy.NewRouter(doc)
})

func init() {
	// The calendars' media type, read as text.
	openapi3filter.RegisterBodyDecoder("text/calendar", openapi3filter.PlainBodyDecoder)
}

var checkAll = &openapi3filter.Options{
	MultiError:         true,
	AuthenticationFunc: func(context.Context, *openapi3filter.AuthenticationInput) error { return nil },
}

// exchange sends req to the app and checks the request and the answer against the document.
func (e *env) exchange(t testing.TB, req *http.Request) resp {
	t.Helper()
	var body []byte
	if req.Body != nil {
		body, _ = io.ReadAll(req.Body)
		req.Body = io.NopCloser(bytes.NewReader(body))
	}
	res, err := e.app.Test(req, -1)
	if err != nil {
		t.Fatalf("%s %s: %v", req.Method, req.URL, err)
	}
	defer res.Body.Close()
	b, err := io.ReadAll(res.Body)
	if err != nil {
		t.Fatal(err)
	}
	r := resp{Status: res.StatusCode, Header: res.Header, Body: b}
	checkContract(t, req, body, r)
	return r
}

// checkContract checks one exchange against the OpenAPI document.
func checkContract(t testing.TB, req *http.Request, body []byte, r resp) {
	t.Helper()
	for _, err := range contractErrors(req, body, r) {
		t.Error(err)
	}
}

// contractErrors are the disagreements of one exchange with the OpenAPI document.
func contractErrors(req *http.Request, body []byte, r resp) []error {
	router, err := docRouter()
	if err != nil {
		return []error{fmt.Errorf("OpenAPI document: %w", err)}
	}
	vreq := req.Clone(context.Background())
	vreq.Body = io.NopCloser(bytes.NewReader(body))
	route, params, err := router.FindRoute(vreq)
	if err != nil {
		// A path or method the document does not have: the tests of 404 and 405 send those.
		if r.Status != 404 && r.Status != 405 {
			return []error{fmt.Errorf("%s %s is not in the document but answered %d", req.Method, req.URL.Path, r.Status)}
		}
		return nil
	}
	var errs []error
	in := &openapi3filter.RequestValidationInput{Request: vreq, PathParams: params, Route: route, Options: checkAll}
	if reqErr := openapi3filter.ValidateRequest(context.Background(), in); reqErr != nil && r.Status < 400 {
		errs = append(errs, fmt.Errorf("%s %s: the document refuses the request (%v) but the server answered %d", req.Method, req.URL, reqErr, r.Status))
	}
	out := &openapi3filter.ResponseValidationInput{RequestValidationInput: in, Status: r.Status, Header: r.Header,
		Options: &openapi3filter.Options{IncludeResponseStatus: true, MultiError: true}}
	out.SetBodyBytes(r.Body)
	if err := openapi3filter.ValidateResponse(context.Background(), out); err != nil {
		var me openapi3.MultiError
		if !errors.As(err, &me) || len(me) > 0 {
			errs = append(errs, fmt.Errorf("%s %s: the answer %d breaks the document: %v\nbody: %.600s", req.Method, req.URL, r.Status, err, r.Body))
		}
	}
	return errs
}

// The check itself can fail: an undocumented status, a body off its schema, a missing
// required header, a success for a request the document refuses.
func TestContract_CheckCatchesDisagreements(t *testing.T) {
	problem := []byte(`{"type":"urn:reservo:problem:forbidden","title":"Forbidden","status":403,"code":"forbidden","request_id":"x"}`)
	jsonH := http.Header{"Content-Type": {"application/json"}}
	problemH := http.Header{"Content-Type": {"application/problem+json"}}
	id := "0192f0c4-7d1e-7c3a-9b1a-2f4e5d6c7b8a"
	get := func(path string) *http.Request {
		r := httptest.NewRequest("GET", path, nil)
		return r
	}
	for _, c := range []struct {
		name string
		req  *http.Request
		body string
		r    resp
		ok   bool
	}{
		{"documented", get("/user/" + id), "", resp{Status: 403, Header: problemH, Body: problem}, true},
		{"undocumented status", get("/user/" + id), "", resp{Status: 418, Header: problemH, Body: problem}, false},
		{"body off its schema", get("/healthz"), "", resp{Status: 200, Header: jsonH, Body: []byte(`{"status":"fine"}`)}, false},
		{"wrong content type", get("/user/" + id), "", resp{Status: 403, Header: jsonH, Body: problem}, false},
		{"problem code not in the enum", get("/user/" + id), "", resp{Status: 403, Header: problemH,
			Body: []byte(`{"type":"t","title":"t","status":403,"code":"nope","request_id":"x"}`)}, false},
		{"405 without Allow", get("/user/" + id), "", resp{Status: 405, Header: problemH, Body: problem}, false},
		{"refused request accepted", get("/vendors?kind=castle"), "", resp{Status: 200, Header: jsonH, Body: []byte(`{"vendors":[]}`)}, false},
	} {
		errs := contractErrors(c.req, []byte(c.body), c.r)
		if (len(errs) == 0) != c.ok {
			t.Errorf("%s: errors %v; want ok=%v", c.name, errs, c.ok)
		}
	}
}

// The document says what the server does: the time zones it takes, every problem code it
// sends, and for every operation the statuses any request can get (a bad request, a method not
// taken, a body, URI or headers too large, a fault), those of its token, its body and its rate
// limit.
func TestOpenAPI_DocumentSaysWhatTheServerDoes(t *testing.T) {
	doc, err := openapi3.NewLoader().LoadFromData(api.OpenAPIYAML)
	if err != nil {
		t.Fatal(err)
	}
	if got := doc.Components.Schemas["TimeZone"].Value.Pattern; got != validate.TimeZonePattern() {
		t.Errorf("TimeZone's pattern is not the server's list of zones; want\n%s", validate.TimeZonePattern())
	}

	var documented []string
	for _, c := range doc.Components.Schemas["ProblemCode"].Value.Enum {
		documented = append(documented, c.(string))
	}
	sent := regexp.MustCompile(`(?:problem\((?:\d+|fiber\.Status\w+), |Code: |\{[\w.]+, \d+, )"([a-z_]+)"`)
	files, err := filepath.Glob("*.go")
	if err != nil {
		t.Fatal(err)
	}
	found := 0
	for _, f := range files {
		if strings.HasSuffix(f, "_test.go") {
			continue
		}
		src, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		for _, m := range sent.FindAllSubmatch(src, -1) {
			found++
			if code := string(m[1]); !slices.Contains(documented, code) {
				t.Errorf("%s sends the problem code %q, which the ProblemCode enum lacks", f, code)
			}
		}
	}
	if found < 40 {
		t.Fatalf("found %d problem codes in the sources; the pattern no longer finds them", found)
	}

	public := []string{"healthz", "readyz", "openapiYAML", "openapiJSON"}
	for path, item := range doc.Paths.Map() {
		for method, op := range item.Operations() {
			want := []string{"400", "405", "413", "414", "431", "500"}
			if !slices.Contains(public, op.OperationID) || op.OperationID == "readyz" {
				want = append(want, "503")
			}
			if !slices.Contains(public, op.OperationID) && op.OperationID != "paymentWebhook" {
				want = append(want, "429")
			}
			if op.Security != nil && len(*op.Security) > 0 {
				want = append(want, "401", "403")
			}
			if op.RequestBody != nil && op.OperationID != "paymentWebhook" { // Stripe's bytes, as sent
				want = append(want, "415")
			}
			if strings.Contains(path, "{") {
				want = append(want, "400")
			}
			for _, status := range want {
				if op.Responses.Value(status) == nil {
					t.Errorf("%s %s (%s) does not document %s", method, path, op.OperationID, status)
				}
			}
		}
	}
}
