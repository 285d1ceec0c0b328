package main

import (
	"fmt"
	"io"
	"math"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/sessionkit/sessionkit/benchmarks/internal/mdfmt"
	"github.com/sessionkit/sessionkit/benchmarks/internal/redisproc"
)

type cellKey struct {
	contender  string
	workload   string
	goroutines int
}

func keyOf(c *cell) cellKey { return cellKey{c.contender, c.workload.name, c.goroutines} }

// measure is one figure of a cell; a negative value is unknown.
type measure func(*cell) float64

func opsPerSec(c *cell) float64 { return c.opsPerSec() }

func clientCPU(c *cell) float64 { return float64(c.cpuPerOp(c.clientCPU)) }

func serverCPU(c *cell) float64 { return float64(c.cpuPerOp(c.serverCPU)) }

func totalCPU(c *cell) float64 { return float64(c.totalCPUPerOp()) }

// spread is the median and the range of a figure over the repeats of a
// cell; n counts the repeats that had it.
type spread struct {
	med, lo, hi float64
	n           int
}

func spreadOf(xs []float64) spread {
	xs = slices.DeleteFunc(slices.Clone(xs), func(x float64) bool { return x < 0 || math.IsNaN(x) || math.IsInf(x, 0) })
	if len(xs) == 0 {
		return spread{med: -1, lo: -1, hi: -1}
	}
	slices.Sort(xs)
	med := xs[len(xs)/2]
	if len(xs)%2 == 0 {
		med = (xs[len(xs)/2-1] + xs[len(xs)/2]) / 2
	}
	return spread{med: med, lo: xs[0], hi: xs[len(xs)-1], n: len(xs)}
}

// report is what a run prints: the cells of every repeat, grouped.
type report struct {
	repeat int
	order  []cellKey           // the cells in the order they first ran
	runs   map[cellKey][]*cell // by repeat; a missing repeat is nil
	// loadStats is INFO commandstats over each Redis contender's Load.
	loadStats map[string]redisproc.CmdStats
	// yardsticks, measured after the cells, or nil.
	yardsticks *yardsticks
}

func newReport(cells []cell, repeat int) *report {
	r := &report{repeat: repeat, runs: map[cellKey][]*cell{}}
	for i := range cells {
		c := &cells[i]
		k := keyOf(c)
		if _, ok := r.runs[k]; !ok {
			r.order = append(r.order, k)
			r.runs[k] = make([]*cell, repeat)
		}
		if c.repeat >= 0 && c.repeat < repeat {
			r.runs[k][c.repeat] = c
		}
	}
	return r
}

// spread returns the median and range of m over the repeats of cell k.
func (r *report) spread(k cellKey, m measure) spread {
	var xs []float64
	for _, c := range r.runs[k] {
		if c != nil {
			xs = append(xs, m(c))
		}
	}
	return spreadOf(xs)
}

// ratio returns the median and range, over the repeats that have both
// cells, of f(a, b): a figure of cell a against cell b of the same repeat,
// which ran side by side.
func (r *report) ratio(a, b cellKey, f func(a, b *cell) float64) spread {
	ra, rb := r.runs[a], r.runs[b]
	var xs []float64
	for i := range min(len(ra), len(rb)) {
		if ra[i] != nil && rb[i] != nil {
			xs = append(xs, f(ra[i], rb[i]))
		}
	}
	return spreadOf(xs)
}

// faster is how many times a outdoes b by ops/s.
func faster(a, b *cell) float64 {
	if b.opsPerSec() <= 0 {
		return -1
	}
	return a.opsPerSec() / b.opsPerSec()
}

// cheaper is how many times less CPU (client + Redis) a operation of a
// costs than one of b.
func cheaper(a, b *cell) float64 {
	ca, cb := a.totalCPUPerOp(), b.totalCPUPerOp()
	if ca <= 0 || cb <= 0 {
		return -1
	}
	return float64(cb) / float64(ca)
}

// withRange formats s with f: the median, and the range when the run had
// more than one repeat.
func (r *report) withRange(s spread, f func(float64) string) string {
	if s.n == 0 {
		return "—"
	}
	if r.repeat == 1 || s.n == 1 {
		return f(s.med)
	}
	return fmt.Sprintf("%s (%s–%s)", f(s.med), f(s.lo), f(s.hi))
}

func fmtCPU(f float64) string { return mdfmt.CPU(time.Duration(f)) }

// printTable prints one row per cell, grouped by workload and goroutines:
// CPU per operation first, then throughput, latency and allocations, with
// the ratios to the baseline in the same group and repeat.
func (r *report) printTable(w io.Writer) {
	fmt.Fprintf(w, "Every cell, led by CPU per operation (median%s):\n\n", map[bool]string{true: " and range of the repeats", false: " of one run"}[r.repeat > 1])
	fmt.Fprintf(w, "| contender | workload | goroutines | CPU/op client | CPU/op redis | CPU/op total | vs %s by CPU/op | ops/s | vs %s by ops/s | p50 | p99 | allocs/op | errors |\n", baseline, baseline)
	fmt.Fprintln(w, "|---|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|")
	for _, k := range r.order {
		b := cellKey{baseline, k.workload, k.goroutines}
		var label string
		var errs uint64
		for _, c := range r.runs[k] {
			if c != nil {
				label = c.workload.label
				errs += c.errors
			}
		}
		byCPU, byOps := "—", "—"
		if _, ok := r.runs[b]; ok {
			byCPU = mdfmt.Ratio(r.ratio(k, b, cheaper).med)
			byOps = mdfmt.Ratio(r.ratio(k, b, faster).med)
		}
		fmt.Fprintf(w, "| %s | %s | %d | %s | %s | %s | %s | %s | %s | %s | %s | %.1f | %d |\n",
			k.contender, label, k.goroutines,
			r.withRange(r.spread(k, clientCPU), fmtCPU),
			r.withRange(r.spread(k, serverCPU), fmtCPU),
			fmtCPU(r.spread(k, totalCPU).med), byCPU,
			r.withRange(r.spread(k, opsPerSec), mdfmt.Thousands), byOps,
			mdfmt.Latency(time.Duration(r.spread(k, func(c *cell) float64 { return float64(c.lat.quantile(.5)) }).med)),
			mdfmt.Latency(time.Duration(r.spread(k, func(c *cell) float64 { return float64(c.lat.quantile(.99)) }).med)),
			r.spread(k, func(c *cell) float64 { return c.allocsPerOp() }).med, errs)
	}
	fmt.Fprintln(w)
	for _, k := range r.order {
		for _, c := range r.runs[k] {
			if c != nil && c.firstErr != nil {
				fmt.Fprintf(w, "- %s, %s, %d goroutines, run %d: %d errors, the first: %v\n", c.contender, c.workload.label, c.goroutines, c.repeat+1, c.errors, c.firstErr)
			}
		}
	}
}

// target is a goal of one of the issues, checked where the run has both
// cells: contender against versus, by CPU per operation (client + Redis)
// and by ops/s.
type target struct {
	issue      int
	what       string
	contender  string
	versus     string
	workload   string
	goroutines int
	// atLeast: contender must be this many times better than versus.
	// When costAtMost is set instead, the figure printed is the cost of
	// contender relative to versus, which must stay at most costAtMost.
	atLeast    float64
	costAtMost float64
}

var targets = []target{
	// Issue 5.
	{5, "sessionkit with caching ≥ 20× scs-redisstore, read-only, 16 goroutines", "sessionkit-redis-cache", "scs-redisstore", "read", 16, 20, 0},
	{5, "sessionkit without caching ≥ 1.5× scs-redisstore, 90/10, 128 goroutines", "sessionkit-redis", "scs-redisstore", "mixed", 128, 1.5, 0},
	{5, "sessionkit without caching ≥ 0.8× raw rueidis, 90/10, 128 goroutines", "sessionkit-redis", "rueidis-raw", "mixed", 128, 0.8, 0},
	// Issue 14.
	{14, "write-only, sessionkit without cache ≥ 1.3× scs-redisstore, 1 goroutine", "sessionkit-redis", "scs-redisstore", "write", 1, 1.3, 0},
	{14, "write-only, sessionkit without cache ≥ 1.3× scs-redisstore, 16 goroutines", "sessionkit-redis", "scs-redisstore", "write", 16, 1.3, 0},
	{14, "write-only, sessionkit without cache ≥ 1.3× scs-redisstore, 128 goroutines", "sessionkit-redis", "scs-redisstore", "write", 128, 1.3, 0},
	{14, "write-only, sessionkit without cache ≥ 1.0× raw rueidis, 1 goroutine", "sessionkit-redis", "rueidis-raw", "write", 1, 1.0, 0},
	{14, "write-only, a write with the cache on never dearer than with it off (≥ 1.0×), 1 goroutine", "sessionkit-redis-cache", "sessionkit-redis", "write", 1, 1.0, 0},
	{14, "write-only, a write with the cache on never dearer than with it off (≥ 1.0×), 16 goroutines", "sessionkit-redis-cache", "sessionkit-redis", "write", 16, 1.0, 0},
	{14, "write-only, a write with the cache on never dearer than with it off (≥ 1.0×), 128 goroutines", "sessionkit-redis-cache", "sessionkit-redis", "write", 128, 1.0, 0},
	{14, "90/10, sessionkit with cache ≥ 5× scs-redisstore, 16 goroutines", "sessionkit-redis-cache", "scs-redisstore", "mixed", 16, 5, 0},
	{14, "90/10, sessionkit with cache ≥ 5× scs-redisstore, 128 goroutines", "sessionkit-redis-cache", "scs-redisstore", "mixed", 128, 5, 0},
	{14, "read-only, sessionkit without cache ≥ 0.8× raw rueidis, 16 goroutines", "sessionkit-redis", "rueidis-raw", "read", 16, 0.8, 0},
	{14, "read-only, sessionkit without cache ≥ 0.8× raw rueidis, 128 goroutines", "sessionkit-redis", "rueidis-raw", "read", 128, 0.8, 0},
	{14, "read-only, a cached Get costs at most 1.3× a memory-backend Get, 1 goroutine", "sessionkit-redis-cache", "sessionkit-memory", "read", 1, 0, 1.3},
	// Issue 15: ahead of scs+postgresstore on reads and mixed work at
	// every concurrency, while doing compare-and-swap.
	{15, "sessionkit-postgres ≥ 1× scs-postgresstore, read-only, 1 goroutine", "sessionkit-postgres", "scs-postgresstore", "read", 1, 1, 0},
	{15, "sessionkit-postgres ≥ 1× scs-postgresstore, read-only, 16 goroutines", "sessionkit-postgres", "scs-postgresstore", "read", 16, 1, 0},
	{15, "sessionkit-postgres ≥ 1× scs-postgresstore, read-only, 128 goroutines", "sessionkit-postgres", "scs-postgresstore", "read", 128, 1, 0},
	{15, "sessionkit-postgres ≥ 1× scs-postgresstore, 90/10, 1 goroutine", "sessionkit-postgres", "scs-postgresstore", "mixed", 1, 1, 0},
	{15, "sessionkit-postgres ≥ 1× scs-postgresstore, 90/10, 16 goroutines", "sessionkit-postgres", "scs-postgresstore", "mixed", 16, 1, 0},
	{15, "sessionkit-postgres ≥ 1× scs-postgresstore, 90/10, 128 goroutines", "sessionkit-postgres", "scs-postgresstore", "mixed", 128, 1, 0},
}

// scriptTargetAtMost is issue 14's bound on a script: what it costs Redis
// per call, at most this many times a SET of the same size.
const scriptTargetAtMost = 3.0

// judged is one measure of a target: its figure and whether it was met.
type judged struct {
	s   spread
	met bool
}

// judge returns t's figure from ratios s (a against b, > 1 is better).
func (t target) judge(s spread) judged {
	if t.costAtMost > 0 {
		inv := spread{med: 1 / s.med, lo: 1 / s.hi, hi: 1 / s.lo, n: s.n}
		return judged{inv, inv.med <= t.costAtMost}
	}
	return judged{s, s.med >= t.atLeast}
}

func (r *report) fmtJudged(j judged) string {
	v := "met"
	if !j.met {
		v = "MISSED"
	}
	return fmt.Sprintf("%s (%s)", r.withRange(j.s, mdfmt.Ratio), v)
}

// verdict sums up the two measures of a target.
func verdict(byCPU, byOps judged, haveCPU bool) string {
	switch {
	case !haveCPU && byOps.met, haveCPU && byCPU.met && byOps.met:
		return "met"
	case !haveCPU, haveCPU && !byCPU.met && !byOps.met:
		return "MISSED"
	case byCPU.met:
		return "met by CPU/op, MISSED by ops/s"
	}
	return "MISSED by CPU/op, met by ops/s"
}

// printTargets prints every target this run measured with its figures:
// by CPU per operation (client + Redis; PostgreSQL's server CPU is not
// measured) and by ops/s, each the median of the ratios of the repeats,
// which ran side by side.
func (r *report) printTargets(w io.Writer) {
	fmt.Fprintln(w, "Targets (the issue in brackets). Each figure is the ratio of two contenders in the same cell")
	if r.repeat > 1 {
		fmt.Fprintf(w, "and run, the median of %d runs with their range; ", r.repeat)
	} else {
		fmt.Fprint(w, "of this run; ")
	}
	fmt.Fprintln(w, "by CPU per operation (client + Redis), which the neighbours of a shared machine move least, and by ops/s:")
	fmt.Fprintln(w)
	for _, t := range targets {
		a := cellKey{t.contender, t.workload, t.goroutines}
		b := cellKey{t.versus, t.workload, t.goroutines}
		_, okA := r.runs[a]
		_, okB := r.runs[b]
		if !okA || !okB {
			fmt.Fprintf(w, "- [%d] %s: not measured in this run\n", t.issue, t.what)
			continue
		}
		byOps := t.judge(r.ratio(a, b, faster))
		cpuRatio := r.ratio(a, b, cheaper)
		byCPU := t.judge(cpuRatio)
		cpuText := "—"
		if cpuRatio.n > 0 {
			cpuText = r.fmtJudged(byCPU)
		}
		fmt.Fprintf(w, "- [%d] %s: by CPU/op %s, by ops/s %s → **%s**\n", t.issue, t.what, cpuText, r.fmtJudged(byOps), verdict(byCPU, byOps, cpuRatio.n > 0))
	}
	r.printScriptTargets(w)
	// sessionkit without caching against the wire, in every cell.
	var parts []string
	for _, k := range r.order {
		if k.contender != "sessionkit-redis" {
			continue
		}
		raw := cellKey{"rueidis-raw", k.workload, k.goroutines}
		if _, ok := r.runs[raw]; ok {
			parts = append(parts, fmt.Sprintf("%s/%d %.2f (%.2f)", r.runs[k][0].label(), k.goroutines, r.ratio(k, raw, cheaper).med, r.ratio(k, raw, faster).med))
		}
	}
	if len(parts) > 0 {
		fmt.Fprintf(w, "- sessionkit-redis / rueidis-raw in every cell, by CPU/op (by ops/s): %s\n", strings.Join(parts, ", "))
	}
	fmt.Fprintln(w)
}

func (c *cell) label() string {
	if c == nil {
		return "?"
	}
	return c.workload.label
}

// printScriptTargets checks issue 14's bound on the scripts: the server
// time per script call, FCALL or EVALSHA (INFO commandstats, which counts the commands a script
// runs in its time) against a SET in the same conditions: the update
// script in sessionkit-redis's write-only cells against the SET in
// rueidis-raw's (whose values are the 257-byte payload without
// sessionkit's record header), repeat by repeat; the create script in
// sessionkit-redis's Load against the SET in rueidis-raw's.
func (r *report) printScriptTargets(w io.Writer) {
	const sk, raw = "sessionkit-redis", "rueidis-raw"
	line := func(what string, s spread, script, set redisproc.CmdStat) {
		if s.n == 0 {
			fmt.Fprintf(w, "- [14] %s ≤ %.0f× a SET: not measured in this run\n", what, scriptTargetAtMost)
			return
		}
		v := "met"
		if s.med > scriptTargetAtMost {
			v = "MISSED"
		}
		fmt.Fprintf(w, "- [14] %s ≤ %.0f× a SET (server time per call, INFO commandstats): script %s, SET %s: %s → **%s**\n",
			what, scriptTargetAtMost, mdfmt.Fine(perCall(script)), mdfmt.Fine(perCall(set)), r.withRange(s, mdfmt.Ratio), v)
	}
	for _, k := range r.order {
		if k.contender != sk || k.workload != "write" {
			continue
		}
		rk := cellKey{raw, k.workload, k.goroutines}
		if _, ok := r.runs[rk]; !ok {
			continue
		}
		var script, set redisproc.CmdStat
		s := r.ratio(k, rk, func(a, b *cell) float64 {
			x, y := a.cmds.Scripts(), b.cmds["set"]
			script.Calls, script.Usec = script.Calls+x.Calls, script.Usec+x.Usec
			set.Calls, set.Usec = set.Calls+y.Calls, set.Usec+y.Usec
			if x.Calls == 0 || y.Calls == 0 || y.Usec == 0 {
				return -1
			}
			return (float64(x.Usec) / float64(x.Calls)) / (float64(y.Usec) / float64(y.Calls))
		})
		line(fmt.Sprintf("update script, write-only, %s (%s against %s)", goroutines(k.goroutines), sk, raw), s, script, set)
	}
	if a, ok := r.loadStats[sk]; ok {
		if b, ok := r.loadStats[raw]; ok {
			x, y := a.Scripts(), b["set"]
			s := spread{med: -1}
			if x.Calls > 0 && y.Calls > 0 && y.Usec > 0 {
				s = spreadOf([]float64{(float64(x.Usec) / float64(x.Calls)) / (float64(y.Usec) / float64(y.Calls))})
			}
			line(fmt.Sprintf("create script, loading the sessions on %d goroutines (%s against %s)", loadWorkers, sk, raw), s, x, y)
		}
	}
}

func goroutines(n int) string {
	if n == 1 {
		return "1 goroutine"
	}
	return strconv.Itoa(n) + " goroutines"
}

func perCall(st redisproc.CmdStat) time.Duration {
	if st.Calls == 0 {
		return -1
	}
	return time.Duration(st.Usec) * time.Microsecond / time.Duration(st.Calls)
}

func addStats(sum, s redisproc.CmdStats) redisproc.CmdStats {
	for name, st := range s {
		t := sum[name]
		t.Calls += st.Calls
		t.Usec += st.Usec
		sum[name] = t
	}
	return sum
}

// printCommands prints what each Redis contender sent per operation, from
// INFO commandstats over its cells (all repeats), and over its Load.
func (r *report) printCommands(w io.Writer) {
	var rows []string
	for _, k := range r.order {
		stats := redisproc.CmdStats{}
		var ops uint64
		var label string
		for _, c := range r.runs[k] {
			if c != nil && c.cmds != nil {
				stats = addStats(stats, c.cmds)
				ops += c.ops
				label = c.workload.label
			}
		}
		if ops == 0 || len(stats) == 0 {
			continue
		}
		rows = append(rows, fmt.Sprintf("| %s | %s | %d | %.2f | %s |", k.contender, label, k.goroutines, float64(stats.Calls())/float64(ops), perOp(stats, ops)))
	}
	if len(rows) == 0 {
		return
	}
	fmt.Fprintln(w, "Redis commands per operation (INFO commandstats over the cells; the commands a script runs count too, and their time is also in the script's):")
	fmt.Fprintln(w)
	fmt.Fprintln(w, "| contender | workload | goroutines | calls/op | each command: calls/op × server time per call |")
	fmt.Fprintln(w, "|---|---|---:|---:|---|")
	for _, row := range rows {
		fmt.Fprintln(w, row)
	}
	fmt.Fprintln(w)
	var names []string
	for name := range r.loadStats {
		names = append(names, name)
	}
	slices.Sort(names)
	for _, name := range names {
		if st := r.loadStats[name]; len(st) > 0 {
			fmt.Fprintf(w, "- %s, loading its sessions: %s\n", name, perOp(st, 0))
		}
	}
	if y := r.yardsticks; y != nil {
		fmt.Fprintf(w, "- yardsticks after the cells, one command at a time, alternately: SET of %d bytes (a sessionkit record's size) %s per call; EVALSHA of `return 1` (the cost of calling any script) %s per call\n",
			y.size, mdfmt.Fine(y.set), mdfmt.Fine(y.script))
	}
	fmt.Fprintln(w)
}

// perOp lists the commands of stats, the most called first: calls per
// operation (or total calls if ops is 0) and server time per call.
func perOp(stats redisproc.CmdStats, ops uint64) string {
	var parts []string
	for _, name := range stats.Names() {
		st := stats[name]
		n := strconv.FormatInt(st.Calls, 10)
		if ops > 0 {
			n = fmt.Sprintf("%.2f", float64(st.Calls)/float64(ops))
		}
		parts = append(parts, fmt.Sprintf("%s %s × %s", name, n, mdfmt.Fine(stats.PerCall(name))))
	}
	return strings.Join(parts, ", ")
}
