package bench

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"testing"
	"time"
)

func TestLoad_BoundedByCountAndCountsErrors(t *testing.T) {
	f := Load(context.Background(), "x", 4, 100, time.Minute, func(_ context.Context, i int) error {
		if i%10 == 0 {
			return errors.New("boom")
		}
		return nil
	})
	if f.Ops != 90 || f.Errors != 10 || f.PerSecond <= 0 {
		t.Fatalf("figures %+v; want 90 ops and 10 errors", f)
	}
}

func TestLoad_BoundedByTime(t *testing.T) {
	f := Load(context.Background(), "x", 2, 1<<30, 50*time.Millisecond, func(ctx context.Context, _ int) error {
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(time.Millisecond):
			return nil
		}
	})
	if f.Ops == 0 || f.Seconds > 5 || f.Errors != 0 {
		t.Fatalf("figures %+v", f)
	}
}

func TestFigures_PercentilesAndJSON(t *testing.T) {
	var lat []time.Duration
	for i := 1; i <= 100; i++ {
		lat = append(lat, time.Duration(i)*time.Millisecond)
	}
	f := figures("x", lat, 0, time.Second)
	if f.P50Ms != 51 || f.P99Ms != 100 || f.PerSecond != 100 {
		t.Fatalf("figures %+v", f)
	}
	var b bytes.Buffer
	if err := WriteJSON(&b, []Result{{Scenario: "s", Product: f, Engine: f, Ratio: Ratio(f, f)}}); err != nil {
		t.Fatal(err)
	}
	var back struct {
		Results []Result `json:"results"`
	}
	if err := json.Unmarshal(b.Bytes(), &back); err != nil || len(back.Results) != 1 || back.Results[0].Ratio != 1 {
		t.Fatalf("json %s (%v)", b.String(), err)
	}
}
