package main

import (
	"bytes"
	"strings"
	"testing"
	"time"

	"github.com/sessionkit/sessionkit/benchmarks/internal/redisproc"
)

func TestSpread(t *testing.T) {
	for _, c := range []struct {
		in          []float64
		med, lo, hi float64
		n           int
	}{
		{[]float64{3, 1, 2}, 2, 1, 3, 3},
		{[]float64{4, 1, 2, 3}, 2.5, 1, 4, 4},
		{[]float64{-1, 5}, 5, 5, 5, 1}, // unknown figures are left out
		{nil, -1, -1, -1, 0},
	} {
		s := spreadOf(c.in)
		if s.med != c.med || s.lo != c.lo || s.hi != c.hi || s.n != c.n {
			t.Errorf("spreadOf(%v) = %+v", c.in, s)
		}
	}
}

// fakeCell is a cell of 1000 operations in 1 s with the given CPU time per
// operation (client, Redis).
func fakeCell(contender, wl string, g, repeat int, client, server time.Duration) cell {
	i := 0
	for i < len(workloads) && workloads[i].name != wl {
		i++
	}
	c := cell{contender: contender, workload: workloads[i], goroutines: g, repeat: repeat, ops: 1000, elapsed: time.Second,
		clientCPU: 1000 * client, serverCPU: 1000 * server}
	c.lat.record(time.Millisecond)
	return c
}

// TestReport checks the figures a report derives: ratios are taken
// between the cells of one repeat, medians and ranges over the repeats,
// and a target's verdict from both measures.
func TestReport(t *testing.T) {
	var cells []cell
	// scs-redisstore costs 100 µs per write; sessionkit-redis 50, 80 and
	// 200 µs in three repeats, each time at 1000 ops/s (so by ops/s it is
	// always 1×, by CPU/op 2×, 1.25× and 0.5×).
	for r, sk := range []time.Duration{50, 80, 200} {
		cells = append(cells,
			fakeCell("sessionkit-redis", "write", 16, r, sk*time.Microsecond*3/4, sk*time.Microsecond/4),
			fakeCell("scs-redisstore", "write", 16, r, 75*time.Microsecond, 25*time.Microsecond))
	}
	cells[0].cmds = redisproc.CmdStats{"evalsha": {Calls: 1000, Usec: 30_000}, "get": {Calls: 2000, Usec: 4000}}
	rep := newReport(cells, 3)
	a := cellKey{"sessionkit-redis", "write", 16}
	b := cellKey{"scs-redisstore", "write", 16}
	if s := rep.ratio(a, b, cheaper); s.med != 1.25 || s.lo != 0.5 || s.hi != 2 || s.n != 3 {
		t.Errorf("by CPU/op: %+v", s)
	}
	if s := rep.ratio(a, b, faster); s.med != 1 || s.n != 3 {
		t.Errorf("by ops/s: %+v", s)
	}
	if s := rep.spread(a, totalCPU); time.Duration(s.med) != 80*time.Microsecond {
		t.Errorf("CPU/op: %+v", s)
	}

	tg := target{14, "t", a.contender, b.contender, "write", 16, 1.2, 0}
	byCPU, byOps := tg.judge(rep.ratio(a, b, cheaper)), tg.judge(rep.ratio(a, b, faster))
	if got := verdict(byCPU, byOps, true); got != "met by CPU/op, MISSED by ops/s" {
		t.Errorf("verdict = %q", got)
	}
	// A cost target inverts the ratio: 0.8 of the cost, within 1.3×.
	cost := target{14, "t", a.contender, b.contender, "write", 16, 0, 1.3}
	if j := cost.judge(spread{med: 1.25, lo: 0.5, hi: 2, n: 3}); j.s.med != 0.8 || j.s.lo != 0.5 || j.s.hi != 2 || !j.met {
		t.Errorf("cost target: %+v", j)
	}

	var out bytes.Buffer
	rep.printTargets(&out)
	rep.printTable(&out)
	rep.printCommands(&out)
	for _, want := range []string{
		"- [14] write-only, sessionkit without cache ≥ 1.3× scs-redisstore, 16 goroutines: by CPU/op 1.25× (0.50×–2.00×) (MISSED), by ops/s 1.00× (1.00×–1.00×) (MISSED) → **MISSED**",
		"- [5] sessionkit with caching ≥ 20× scs-redisstore, read-only, 16 goroutines: not measured in this run",
		"| sessionkit-redis | write-only | 16 | 60.0µs (37.5µs–150µs) | 20.0µs (12.5µs–50.0µs) | 80.0µs | 1.25× | 1,000 (1,000–1,000) | 1.00× |",
		"| sessionkit-redis | write-only | 16 | 3.00 | get 2.00 × 2.00µs, evalsha 1.00 × 30.0µs |",
	} {
		if !strings.Contains(out.String(), want) {
			t.Errorf("report lacks\n%s\nin\n%s", want, out.String())
		}
	}
}
