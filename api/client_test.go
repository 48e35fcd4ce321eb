package api_test

import (
	"bytes"
	"context"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"testing"
	"time"

	"github.com/google/uuid"
	openapi_types "github.com/oapi-codegen/runtime/types"

	"github.com/reservo/reservo/api/client"
)

// bearer sends a request with the token.
func bearer(tok string) client.RequestEditorFn {
	return func(_ context.Context, req *http.Request) error {
		req.Header.Set("Authorization", "Bearer "+tok)
		return nil
	}
}

// An app's developer generates a client from the document and uses it as it is: onboard a
// hotel, add a room type, sign up, search, book, pay in the sandbox, read the booking, cancel.
// Every answer decodes into the generated types.
func TestClient_GeneratedClientBooksFromSearchToCancel(t *testing.T) {
	e := newEnv(t)
	c, err := client.NewClientWithResponses(e.listen())
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	must := func(status int, err error, want int, body []byte) {
		t.Helper()
		if err != nil {
			t.Fatal(err)
		}
		if status != want {
			t.Fatalf("status %d; want %d; body %s", status, want, body)
		}
	}

	// A hotel and its manager.
	var nv client.NewVendor
	email := "cm-" + uuid.NewString()[:8] + "@example.com"
	if err := nv.FromNewHotel(client.NewHotel{Kind: "hotel", Name: "Casa Cliente", City: client.City{Name: "Lisbon", CountryCode: "PT"},
		Timezone: "Europe/Lisbon", Address: "Rua 1", Lat: 38.7223, Lon: -9.1393, Currency: "EUR", StarRating: 4,
		CheckInTime: "14:00", CheckOutTime: "11:00", Manager: client.NewManager{Email: openapi_types.Email(email), Password: "manager-pass", Name: "Rita"}}); err != nil {
		t.Fatal(err)
	}
	cv, err := c.CreateVendorWithResponse(ctx, nv)
	must(cv.StatusCode(), err, 201, cv.Body)
	vendorID := cv.JSON201.Id
	ml, err := c.LoginVendorWithResponse(ctx, client.Credentials{Email: email, Password: "manager-pass"})
	must(ml.StatusCode(), err, 200, ml.Body)
	if ml.JSON200.VendorId == nil || *ml.JSON200.VendorId != vendorID {
		t.Fatalf("manager token %+v", ml.JSON200)
	}
	mTok := ml.JSON200.AccessToken
	facilities := []client.Slug{"wifi"}
	ci, err := c.CreateItineraryWithResponse(ctx, vendorID, client.NewItinerary{Type: "double", Name: "Double", Capacity: 2,
		Quantity: ptr(3), BasePrice: 10000, Facilities: &facilities}, bearer(mTok))
	must(ci.StatusCode(), err, 201, ci.Body)

	// A guest.
	guest := "cg-" + uuid.NewString()[:8] + "@example.com"
	cu, err := c.CreateUserWithResponse(ctx, client.NewUser{Email: openapi_types.Email(guest), Password: "s3cret-pass", Name: "Ana"})
	must(cu.StatusCode(), err, 201, cu.Body)
	ul, err := c.LoginUserWithResponse(ctx, client.Credentials{Email: guest, Password: "s3cret-pass"})
	must(ul.StatusCode(), err, 200, ul.Body)
	uTok := ul.JSON200.AccessToken

	// Search: the hotel has the room free for the nights.
	in, out := nextWeekday(10, time.Monday), nextWeekday(12, time.Wednesday)
	checkIn, _ := time.Parse("2006-01-02", in)
	checkOut, _ := time.Parse("2006-01-02", out)
	city, kind := "Lisbon", client.VendorKind("hotel")
	e.index()
	sr, err := c.SearchVendorsWithResponse(ctx, &client.SearchVendorsParams{Kind: &kind, City: &city,
		CheckIn: &openapi_types.Date{Time: checkIn}, CheckOut: &openapi_types.Date{Time: checkOut}, Facility: &[]string{"wifi"}})
	must(sr.StatusCode(), err, 200, sr.Body)
	var itineraryID uuid.UUID
	for _, v := range sr.JSON200.Vendors {
		if v.Id == vendorID && len(v.Itineraries) == 1 {
			itineraryID = v.Itineraries[0].Id
		}
	}
	if itineraryID != ci.JSON201.Id {
		t.Fatalf("search found %s; want the room %s; page %s", itineraryID, ci.JSON201.Id, sr.Body)
	}

	// Book, with an idempotency key: the hold waits for the deposit.
	key := uuid.NewString()
	bk, err := c.CreateBookingWithResponse(ctx, vendorID, &client.CreateBookingParams{IdempotencyKey: &key},
		client.NewBooking{ItineraryId: itineraryID, Quantity: 1, PartySize: 2,
			CheckIn: &openapi_types.Date{Time: checkIn}, CheckOut: &openapi_types.Date{Time: checkOut}}, bearer(uTok))
	must(bk.StatusCode(), err, 201, bk.Body)
	bookingID := bk.JSON201.Booking.Id
	if bk.JSON201.Booking.Status != "BLOCKED" || bk.JSON201.Booking.PriceTotal != 20000 {
		t.Fatalf("hold %s", bk.Body)
	}

	// Pay in the sandbox; the booking is confirmed.
	sp, err := c.SandboxPayWithResponse(ctx, bookingID, client.SandboxPayment{Outcome: "succeeded"}, bearer(uTok))
	must(sp.StatusCode(), err, 202, sp.Body)
	wait := "10s"
	deadline := time.Now().Add(30 * time.Second)
	for {
		st, err := c.GetBookingStatusWithResponse(ctx, bookingID, &client.GetBookingStatusParams{Wait: &wait}, bearer(uTok))
		must(st.StatusCode(), err, 200, st.Body)
		if st.JSON200.Status == "CONFIRMED" {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("booking %s is %s", bookingID, st.JSON200.Status)
		}
	}
	gb, err := c.GetBookingWithResponse(ctx, bookingID, bearer(mTok))
	must(gb.StatusCode(), err, 200, gb.Body)
	if gb.JSON200.Status != "CONFIRMED" || gb.JSON200.Guest == nil || gb.JSON200.Guest.Email != guest {
		t.Fatalf("the manager's view %s", gb.Body)
	}

	// Cancel: the guest's list shows it cancelled.
	cb, err := c.SetBookingStatusWithResponse(ctx, bookingID, client.StatusChange{Status: "CANCELLED"}, bearer(uTok))
	must(cb.StatusCode(), err, 200, cb.Body)
	if cb.JSON200.Status != "CANCELLED" {
		t.Fatalf("cancelled %s", cb.Body)
	}
	statuses := "CANCELLED"
	lb, err := c.ListUserBookingsWithResponse(ctx, ul.JSON200.SubjectId, &client.ListUserBookingsParams{Status: &statuses}, bearer(uTok))
	must(lb.StatusCode(), err, 200, lb.Body)
	if len(lb.JSON200.Bookings) != 1 || lb.JSON200.Bookings[0].Id != bookingID {
		t.Fatalf("cancelled bookings %s", lb.Body)
	}

	// A problem decodes too, with its documented code.
	nf, err := c.GetBookingWithResponse(ctx, uuid.New(), bearer(uTok))
	must(nf.StatusCode(), err, 404, nf.Body)
	if nf.ApplicationproblemJSON404 == nil || nf.ApplicationproblemJSON404.Code != client.ProblemCodeNotFound {
		t.Fatalf("problem %s", nf.Body)
	}
}

func ptr[T any](v T) *T { return &v }

// The committed client is what oapi-codegen makes of the document as it is: a change of the
// document without `go generate ./api/client` fails here.
func TestClient_GeneratedFromTheDocumentAsItIs(t *testing.T) {
	if testing.Short() {
		t.Skip("runs oapi-codegen")
	}
	// The same configuration, writing into a directory of the test's own (its output is
	// relative to where oapi-codegen runs).
	dir := t.TempDir()
	cfg, err := os.ReadFile("client/oapi-codegen.yaml")
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, "oapi-codegen.yaml"), cfg, 0o644); err != nil {
		t.Fatal(err)
	}
	doc, err := filepath.Abs("openapi.yaml")
	if err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command("go", "run", client.Generator, "-config", "oapi-codegen.yaml", doc)
	cmd.Dir = dir
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	if err := cmd.Run(); err != nil {
		t.Fatalf("oapi-codegen: %v\n%s", err, stderr.String())
	}
	got, err := os.ReadFile(filepath.Join(dir, "client.gen.go"))
	if err != nil {
		t.Fatal(err)
	}
	want, err := os.ReadFile("client/client.gen.go")
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(got, want) {
		t.Fatal("api/client/client.gen.go is not what oapi-codegen makes of api/openapi.yaml: run go generate ./api/client")
	}
}
