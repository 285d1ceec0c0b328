package main

import (
	"fmt"
	"io"
	"math"
	"strconv"
	"strings"
	"time"
)

// thousands formats f rounded to an integer with comma separators.
func thousands(f float64) string {
	s := strconv.FormatInt(int64(math.Round(f)), 10)
	var b strings.Builder
	for i, r := range s {
		if i > 0 && (len(s)-i)%3 == 0 {
			b.WriteByte(',')
		}
		b.WriteRune(r)
	}
	return b.String()
}

// latency formats d with three significant digits.
func latency(d time.Duration) string {
	switch {
	case d < time.Microsecond:
		return fmt.Sprintf("%dns", d.Nanoseconds())
	case d < time.Millisecond:
		return sig3(float64(d)/1e3) + "µs"
	case d < time.Second:
		return sig3(float64(d)/1e6) + "ms"
	}
	return sig3(d.Seconds()) + "s"
}

func sig3(f float64) string {
	switch {
	case f >= 100:
		return fmt.Sprintf("%.0f", f)
	case f >= 10:
		return fmt.Sprintf("%.1f", f)
	}
	return fmt.Sprintf("%.2f", f)
}

// cpu formats a CPU time per operation; -1 is unknown.
func cpu(d time.Duration) string {
	if d < 0 {
		return "—"
	}
	return latency(d)
}

func ratio(r float64) string {
	if r >= 10 {
		return fmt.Sprintf("%.0f×", r)
	}
	return fmt.Sprintf("%.2f×", r)
}

type cellKey struct {
	contender  string
	workload   string
	goroutines int
}

func index(cells []cell) map[cellKey]*cell {
	m := make(map[cellKey]*cell, len(cells))
	for i := range cells {
		c := &cells[i]
		m[cellKey{c.contender, c.workload.name, c.goroutines}] = c
	}
	return m
}

// printTable prints one row per cell, grouped by workload and goroutines,
// with the ratio of ops/s to the baseline in the same group.
func printTable(w io.Writer, cells []cell) {
	idx := index(cells)
	fmt.Fprintf(w, "| contender | workload | goroutines | ops/s | p50 | p99 | vs %s | allocs/op | CPU/op client | CPU/op redis | errors |\n", baseline)
	fmt.Fprintln(w, "|---|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|")
	for _, c := range cells {
		vs := "—"
		if b, ok := idx[cellKey{baseline, c.workload.name, c.goroutines}]; ok && b.opsPerSec() > 0 {
			vs = ratio(c.opsPerSec() / b.opsPerSec())
		}
		fmt.Fprintf(w, "| %s | %s | %d | %s | %s | %s | %s | %.1f | %s | %s | %d |\n",
			c.contender, c.workload.label, c.goroutines, thousands(c.opsPerSec()),
			latency(c.lat.quantile(0.50)), latency(c.lat.quantile(0.99)), vs, c.allocsPerOp(),
			cpu(c.cpuPerOp(c.clientCPU)), cpu(c.cpuPerOp(c.serverCPU)), c.errors)
	}
	fmt.Fprintln(w)
	for _, c := range cells {
		if c.firstErr != nil {
			fmt.Fprintf(w, "- %s, %s, %d goroutines: %d errors, the first: %v\n", c.contender, c.workload.label, c.goroutines, c.errors, c.firstErr)
		}
	}
}

// target is one of the goals of issue 5, checked where the run has both
// cells.
type target struct {
	what       string
	contender  string
	versus     string
	workload   string
	goroutines int
	atLeast    float64
}

var targets = []target{
	{"sessionkit with caching ≥ 20× scs+redisstore, read-only, 16 goroutines", "sessionkit-redis-cache", "scs-redisstore", "read", 16, 20},
	{"sessionkit without caching ≥ 1.5× scs+redisstore, 90/10, 128 goroutines", "sessionkit-redis", "scs-redisstore", "mixed", 128, 1.5},
	{"sessionkit without caching ≥ 0.8× raw rueidis, 90/10, 128 goroutines", "sessionkit-redis", "rueidis-raw", "mixed", 128, 0.8},
	// Issue 15: ahead of scs+postgresstore on reads and mixed work at
	// every concurrency, while doing compare-and-swap.
	{"sessionkit-postgres ≥ 1× scs+postgresstore, read-only, 1 goroutine", "sessionkit-postgres", "scs-postgresstore", "read", 1, 1},
	{"sessionkit-postgres ≥ 1× scs+postgresstore, read-only, 16 goroutines", "sessionkit-postgres", "scs-postgresstore", "read", 16, 1},
	{"sessionkit-postgres ≥ 1× scs+postgresstore, read-only, 128 goroutines", "sessionkit-postgres", "scs-postgresstore", "read", 128, 1},
	{"sessionkit-postgres ≥ 1× scs+postgresstore, 90/10, 1 goroutine", "sessionkit-postgres", "scs-postgresstore", "mixed", 1, 1},
	{"sessionkit-postgres ≥ 1× scs+postgresstore, 90/10, 16 goroutines", "sessionkit-postgres", "scs-postgresstore", "mixed", 16, 1},
	{"sessionkit-postgres ≥ 1× scs+postgresstore, 90/10, 128 goroutines", "sessionkit-postgres", "scs-postgresstore", "mixed", 128, 1},
}

func printTargets(w io.Writer, cells []cell) {
	idx := index(cells)
	fmt.Fprintln(w, "Targets:")
	fmt.Fprintln(w)
	for _, t := range targets {
		a, okA := idx[cellKey{t.contender, t.workload, t.goroutines}]
		b, okB := idx[cellKey{t.versus, t.workload, t.goroutines}]
		if !okA || !okB || b.opsPerSec() == 0 {
			fmt.Fprintf(w, "- %s: not measured in this run\n", t.what)
			continue
		}
		r := a.opsPerSec() / b.opsPerSec()
		verdict := "met"
		if r < t.atLeast {
			verdict = "MISSED"
		}
		byCPU := ""
		if ca, cb := a.totalCPUPerOp(), b.totalCPUPerOp(); ca > 0 && cb > 0 {
			byCPU = fmt.Sprintf("; by CPU per operation (client + redis) %s", ratio(float64(cb)/float64(ca)))
		}
		fmt.Fprintf(w, "- %s: %s (%s)%s\n", t.what, ratio(r), verdict, byCPU)
	}
	// sessionkit without caching against the wire, in every cell.
	var parts []string
	for _, c := range cells {
		if c.contender != "sessionkit-redis" {
			continue
		}
		if raw, ok := idx[cellKey{"rueidis-raw", c.workload.name, c.goroutines}]; ok && raw.opsPerSec() > 0 {
			parts = append(parts, fmt.Sprintf("%s/%d %.2f", c.workload.label, c.goroutines, c.opsPerSec()/raw.opsPerSec()))
		}
	}
	if len(parts) > 0 {
		fmt.Fprintf(w, "- sessionkit-redis / rueidis-raw in every cell: %s\n", strings.Join(parts, ", "))
	}
	fmt.Fprintln(w)
}
