package bench

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"os"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"
)

// Client speaks to a running Reservo API (reservo all or serve) over HTTP, as the load
// generator of the scenarios that go through the API.
type Client struct {
	Base string
	HTTP *http.Client
}

// NewClient returns a client of the API at base (http://127.0.0.1:port only: benchmarks load
// this machine and nothing else), with enough idle connections for workers.
func NewClient(base string, workers int) (*Client, error) {
	u, err := url.Parse(base)
	if err != nil {
		return nil, fmt.Errorf("bench url: %w", err)
	}
	if ip := net.ParseIP(u.Hostname()); (ip == nil || !ip.IsLoopback()) && u.Hostname() != "localhost" {
		return nil, fmt.Errorf("bench url %s: only loopback addresses are benchmarked", base)
	}
	tr := &http.Transport{MaxIdleConns: workers * 2, MaxIdleConnsPerHost: workers * 2, IdleConnTimeout: time.Minute}
	return &Client{Base: strings.TrimRight(base, "/"), HTTP: &http.Client{Transport: tr, Timeout: 30 * time.Second}}, nil
}

// StatusError is an answer with an unexpected status.
type StatusError struct {
	Method, Path string
	Status       int
	Body         string
}

func (e *StatusError) Error() string {
	return fmt.Sprintf("%s %s: %d %s", e.Method, e.Path, e.Status, e.Body)
}

// Do sends a request with a JSON body (nil: none) and decodes a JSON answer into out (nil:
// drained). An answer other than want is a *StatusError.
func (c *Client) Do(ctx context.Context, method, path, token string, headers map[string]string, body, out any, want ...int) error {
	var rd io.Reader
	if body != nil {
		b, err := json.Marshal(body)
		if err != nil {
			return err
		}
		rd = bytes.NewReader(b)
	}
	req, err := http.NewRequestWithContext(ctx, method, c.Base+path, rd)
	if err != nil {
		return err
	}
	if body != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	for k, v := range headers {
		req.Header.Set(k, v)
	}
	resp, err := c.HTTP.Do(req)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	if len(want) == 0 {
		want = []int{http.StatusOK}
	}
	if !slices.Contains(want, resp.StatusCode) {
		b, _ := io.ReadAll(io.LimitReader(resp.Body, 512))
		return &StatusError{Method: method, Path: path, Status: resp.StatusCode, Body: strings.TrimSpace(string(b))}
	}
	if out == nil {
		_, err = io.Copy(io.Discard, resp.Body)
		return err
	}
	return json.NewDecoder(resp.Body).Decode(out)
}

// token is the answer of a login.
type token struct {
	AccessToken string `json:"access_token"`
}

// signUp creates a guest and signs them in.
func (c *Client) signUp(ctx context.Context, email string) (id, tok string, err error) {
	var u struct {
		ID string `json:"id"`
	}
	if err := c.Do(ctx, "POST", "/user/create", "", nil, map[string]any{"email": email, "password": "benchmark-password", "name": "Bench Guest"}, &u, 201); err != nil {
		return "", "", err
	}
	var t token
	if err := c.Do(ctx, "POST", "/user/login", "", nil, map[string]any{"email": email, "password": "benchmark-password"}, &t); err != nil {
		return "", "", err
	}
	return u.ID, t.AccessToken, nil
}

// openHotel onboards a hotel with one room type of units rooms and returns their ids.
func (c *Client) openHotel(ctx context.Context, tag string, units int) (vendorID, itineraryID string, err error) {
	email := "bench-" + tag + "@bench.reservo.test"
	var v struct {
		ID string `json:"id"`
	}
	err = c.Do(ctx, "POST", "/vendor/create", "", nil, map[string]any{
		"kind": "hotel", "name": "Benchmark Hotel " + tag, "city": map[string]any{"name": "Lisbon", "country_code": "PT"},
		"timezone": "UTC", "address": "Bench 1", "lat": 38.7223, "lon": -9.1393, "currency": "EUR", "star_rating": 3,
		"check_in_time": "14:00", "check_out_time": "11:00",
		"manager": map[string]any{"email": email, "password": "benchmark-password", "name": "Bench"},
	}, &v, 201)
	if err != nil {
		return "", "", err
	}
	var t token
	if err := c.Do(ctx, "POST", "/vendor/login", "", nil, map[string]any{"email": email, "password": "benchmark-password"}, &t); err != nil {
		return "", "", err
	}
	var it struct {
		ID string `json:"id"`
	}
	err = c.Do(ctx, "POST", "/vendor/"+v.ID+"/itenery", t.AccessToken, nil, map[string]any{
		"type": "double", "name": "Double", "capacity": 2, "quantity": units, "base_price": 10000}, &it, 201)
	return v.ID, it.ID, err
}

// PeakRSS returns the peak resident memory (VmHWM) of process pid, in MiB.
func PeakRSS(pid int) (float64, error) {
	b, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/status")
	if err != nil {
		return 0, err
	}
	for _, line := range strings.Split(string(b), "\n") {
		if rest, ok := strings.CutPrefix(line, "VmHWM:"); ok {
			kb, err := strconv.ParseFloat(strings.TrimSpace(strings.TrimSuffix(strings.TrimSpace(rest), "kB")), 64)
			if err != nil {
				return 0, fmt.Errorf("VmHWM %q: %w", rest, err)
			}
			return kb / 1024, nil
		}
	}
	return 0, fmt.Errorf("no VmHWM in /proc/%d/status", pid)
}

// LoadKinds is Load for a mixed workload: op does one request of the kind it chooses and
// returns the kind's index in kinds. It returns the figures of all requests and of each kind.
func LoadKinds(ctx context.Context, name string, kinds []string, workers, total int, duration time.Duration, op func(ctx context.Context, i int) (int, error)) (Figures, []Figures) {
	ctx, cancel := context.WithTimeout(ctx, duration)
	defer cancel()
	var next atomic.Int64
	type acc struct {
		lat  [][]time.Duration
		errs []int64
	}
	accs := make([]acc, workers)
	firsts := make([]atomic.Pointer[string], len(kinds))
	start := time.Now()
	var wg sync.WaitGroup
	for w := range workers {
		accs[w] = acc{lat: make([][]time.Duration, len(kinds)), errs: make([]int64, len(kinds))}
		wg.Add(1)
		go func() {
			defer wg.Done()
			a := &accs[w]
			for ctx.Err() == nil {
				i := int(next.Add(1)) - 1
				if i >= total {
					return
				}
				t := time.Now()
				octx, ocancel := opContext(ctx)
				k, err := op(octx, i)
				ocancel()
				if err != nil {
					if ctx.Err() != nil {
						return
					}
					a.errs[k]++
					msg := err.Error()
					firsts[k].CompareAndSwap(nil, &msg)
					continue
				}
				a.lat[k] = append(a.lat[k], time.Since(t))
			}
		}()
	}
	wg.Wait()
	elapsed := time.Since(start)
	var all []time.Duration
	var allErrs int64
	per := make([]Figures, len(kinds))
	for k, kind := range kinds {
		var lat []time.Duration
		var errs int64
		for _, a := range accs {
			lat = append(lat, a.lat[k]...)
			errs += a.errs[k]
		}
		all = append(all, lat...)
		allErrs += errs
		per[k] = figures(kind, lat, errs, elapsed)
		if p := firsts[k].Load(); p != nil {
			per[k].FirstError = *p
		}
	}
	return figures(name, all, allErrs, elapsed), per
}
