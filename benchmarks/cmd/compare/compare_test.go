package main

import (
	"context"
	"math/rand/v2"
	"slices"
	"testing"
	"time"
)

func TestHistQuantiles(t *testing.T) {
	var h hist
	for i := 1; i <= 10000; i++ {
		h.record(time.Duration(i) * time.Microsecond)
	}
	for _, c := range []struct {
		q    float64
		want time.Duration
	}{{0.5, 5000 * time.Microsecond}, {0.99, 9900 * time.Microsecond}, {1, 10000 * time.Microsecond}} {
		got := h.quantile(c.q)
		if d := float64(got-c.want) / float64(c.want); d < -0.02 || d > 0.02 {
			t.Errorf("quantile(%v) = %v, want %v within 2%%", c.q, got, c.want)
		}
	}
}

func TestHistBucketsAreMonotonic(t *testing.T) {
	prev := -1
	for _, ns := range []int64{0, 1, 63, 64, 65, 127, 128, 1000, 1 << 20, 1<<40 - 1, 1 << 40, 1 << 62} {
		b := bucketOf(ns)
		if b < prev || b >= len(hist{}.counts) {
			t.Fatalf("bucketOf(%d) = %d after %d (%d buckets)", ns, b, prev, len(hist{}.counts))
		}
		prev = b
		if ns < 1<<40 {
			if v := bucketValue(b); float64(v) < float64(ns)*0.98 || float64(v) > float64(ns)*1.02+1 {
				t.Errorf("bucketValue(bucketOf(%d)) = %d", ns, v)
			}
		}
	}
	r := rand.New(rand.NewPCG(1, 2))
	for range 100000 {
		a, b := r.Int64N(1<<40), r.Int64N(1<<40)
		if a > b {
			a, b = b, a
		}
		if bucketOf(a) > bucketOf(b) {
			t.Fatalf("bucketOf(%d) > bucketOf(%d)", a, b)
		}
	}
}

func TestParseRedisBenchmark(t *testing.T) {
	out := "SET: rps=0.0 (overall: nan) avg_msec=nan (overall: nan)\r" +
		"SET: 86956.52 requests per second, p50=0.287 msec                    \n" +
		"GET: 90090.09 requests per second, p50=0.271 msec                    \n\n"
	got := parseRedisBenchmark(out, 16)
	want := []benchLine{{"SET", 16, "86956.52", "0.287"}, {"GET", 16, "90090.09", "0.271"}}
	if !slices.Equal(got, want) {
		t.Errorf("got %+v, want %+v", got, want)
	}
}

func TestFlags(t *testing.T) {
	o, err := parseFlags([]string{"-contenders", "sessionkit-memory,scs-memstore", "-workloads", "mixed", "-goroutines", "2,4", "-duration", "50ms"})
	if err != nil {
		t.Fatal(err)
	}
	if len(o.contenders) != 2 || len(o.workloads) != 1 || o.workloads[0].writePct != 10 || !slices.Equal(o.goroutines, []int{2, 4}) {
		t.Errorf("parsed %+v", o)
	}
	for _, bad := range [][]string{{"-contenders", "nope"}, {"-workloads", "nope"}, {"-goroutines", "0"}, {"-duration", "0s"}} {
		if _, err := parseFlags(bad); err == nil {
			t.Errorf("parseFlags(%q) succeeded", bad)
		}
	}
}

// TestInProcessContenders runs the contenders that need no Redis through
// every workload briefly: each must load, read and write without errors.
func TestInProcessContenders(t *testing.T) {
	for _, name := range []string{"sessionkit-memory", "scs-memstore"} {
		t.Run(name, func(t *testing.T) {
			spec, ok := findContender(name)
			if !ok {
				t.Fatal("no such contender")
			}
			c, err := spec.make(&env{poolSize: 4, owners: true})
			if err != nil {
				t.Fatal(err)
			}
			defer c.Close()
			ctx := context.Background()
			tokens, err := c.Load(ctx, 200)
			if err != nil {
				t.Fatal(err)
			}
			if len(tokens) != 200 || tokens[0] == "" || tokens[0] == tokens[1] {
				t.Fatalf("tokens %q...", tokens[:2])
			}
			if err := prime(ctx, c, tokens); err != nil {
				t.Fatal(err)
			}
			for _, wl := range workloads {
				res := runPhase(ctx, c, tokens, wl, 4, 20*time.Millisecond, 2000, 1, nil)
				if res.ops == 0 || res.errors != 0 || res.lat.n != res.ops {
					t.Errorf("%s: %d ops, %d errors (first %v), %d latencies", wl.label, res.ops, res.errors, res.firstErr, res.lat.n)
				}
				if res.ops > 2000 {
					t.Errorf("%s: %d ops beyond the limit of 2000", wl.label, res.ops)
				}
			}
			if c.Size() < 150 {
				t.Errorf("Size() = %d, want a realistic payload", c.Size())
			}
		})
	}
}
