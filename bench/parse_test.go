package bench

import (
	"math"
	"strings"
	"testing"
)

const wrkOut = `Running 10s test @ http://127.0.0.1:18080/booking/x
  1 threads and 8 connections
  Thread Stats   Avg      Stdev     Max   +/- Stdev
    Latency   612.34us  200.12us   5.00ms   80.00%
    Req/Sec    13.10k     1.00k   15.00k    70.00%
  Latency Distribution
     50%  580.00us
     75%  700.00us
     90%  850.00us
     99%    1.50ms
  130456 requests in 10.01s, 80.00MB read
  Non-2xx or 3xx responses: 456
Requests/sec:  13032.57
Transfer/sec:      7.99MB
reservo-latency-us p50=580 p95=1020 p99=1500
`

func near(a, b float64) bool { return math.Abs(a-b) < 1e-6*math.Max(1, math.Abs(b)) }

func TestParseWrk(t *testing.T) {
	f, err := parseWrk("api", wrkOut)
	if err != nil {
		t.Fatal(err)
	}
	// The 456 failed answers do not count: 130000 good ones in 10.01 s.
	if f.Ops != 130000 || f.Errors != 456 || !near(f.Seconds, 10.01) || !near(f.PerSecond, 130000/10.01) {
		t.Fatalf("figures %+v", f)
	}
	if !near(f.P50Ms, 0.58) || !near(f.P95Ms, 1.02) || !near(f.P99Ms, 1.5) {
		t.Fatalf("percentiles p50 %v p95 %v p99 %v", f.P50Ms, f.P95Ms, f.P99Ms)
	}
	noScript := wrkOut[:strings.Index(wrkOut, "reservo-latency-us")]
	if _, err := parseWrk("api", noScript); err == nil {
		t.Fatal("a report without the script's percentiles was accepted")
	}
	if _, err := parseWrk("api", "unable to connect"); err == nil {
		t.Fatal("a report without figures was accepted")
	}
}

func TestParseRedisBenchmark(t *testing.T) {
	out := `"test","rps","avg_latency_ms","min_latency_ms","p50_latency_ms","p95_latency_ms","p99_latency_ms","max_latency_ms"
"GET","29240.94","0.152","0.040","0.143","0.223","0.295","0.807"
`
	f, err := parseRedisBenchmark(out, 100000)
	if err != nil {
		t.Fatal(err)
	}
	if !near(f.PerSecond, 29240.94) || !near(f.P50Ms, 0.143) || !near(f.P95Ms, 0.223) || !near(f.P99Ms, 0.295) || f.Ops != 100000 {
		t.Fatalf("figures %+v", f)
	}
	if _, err := parseRedisBenchmark(`"SET","1","1","1","1","1","1","1"`, 1); err == nil {
		t.Fatal("a report without GET was accepted")
	}
}
