package main

import (
	"fmt"
	"io"
	"runtime"
	"strconv"
	"strings"
	"time"

	"github.com/sessionkit/sessionkit/benchmarks/internal/mdfmt"
	"github.com/sessionkit/sessionkit/benchmarks/internal/redisproc"
	"github.com/sessionkit/sessionkit/benchmarks/internal/runenv"
)

// Issue 14's memory targets, per session of the benchmark payload: Redis
// at most redisTarget bytes of used_memory, its owner index share
// included; the memory backend at most the payload plus memoryOverhead
// bytes of Go heap.
const (
	redisTarget    = 550
	memoryOverhead = 300
)

func printHeader(w io.Writer, o *options, redisVersion string) {
	fmt.Fprintln(w, "## sessionkit at scale")
	fmt.Fprintln(w)
	fmt.Fprintf(w, "- date: %s\n", time.Now().UTC().Format("2006-01-02 15:04 MST"))
	fmt.Fprintf(w, "- machine: %s/%s, %d CPUs%s, GOMAXPROCS %d\n", runtime.GOOS, runtime.GOARCH, runtime.NumCPU(), runenv.CPUModel(), runtime.GOMAXPROCS(0))
	if la := runenv.LoadAverage(); la != "" {
		fmt.Fprintf(w, "- load average at the start (1, 5, 15 min): %s on %d CPUs; other processes share them\n", la, runtime.NumCPU())
	}
	fmt.Fprintf(w, "- Go: %s\n", runtime.Version())
	if src := runenv.Source(); src != "" {
		fmt.Fprintf(w, "- sessionkit: %s\n", src)
	}
	if redisVersion != "" {
		fmt.Fprintf(w, "- Redis: %s, started by this run on 127.0.0.1 (--save \"\" --appendonly no), emptied (FLUSHALL) before each size; backend without client-side caching, prefix %q\n", redisVersion, redisPrefix)
	}
	fmt.Fprintf(w, "- sessions: N in owners of %d, plus %d of one owner; the comparison's ten-field payload; Manager defaults (MessagePack, %v idle, %v absolute), no decoded-session cache\n",
		o.ownerSize, o.bigOwner, idleTimeout, absoluteTimeout)
	fmt.Fprintf(w, "- Create: every session once on %d goroutines; Get: sessions picked uniformly at random on %d goroutines for %v; ListByOwner and DestroyByOwner: %d distinct small owners each, the large owner 3 times and once, one call at a time\n",
		o.goroutines, o.goroutines, o.getFor, o.ownerCalls)
	fmt.Fprintln(w, "- memory: growth over the load, after a collection that returns freed pages to the system (runtime.GC, debug.FreeOSMemory): Go heap (HeapAlloc) and RSS of this process for the memory backend, used_memory of the server for Redis, divided by the sessions stored")
	fmt.Fprintln(w, "- CPU/op: CPU time (user + system) of this process and of redis-server (INFO cpu) per operation")
	fmt.Fprintln(w)
}

func printResults(w io.Writer, o *options, results []result) {
	if len(results) == 0 {
		return
	}
	fmt.Fprintln(w, "Memory per session:")
	fmt.Fprintln(w)
	fmt.Fprintln(w, "| N | sessions stored | backend | payload | Go heap/session | RSS/session | Redis used_memory/session | Redis keys/session | target |")
	fmt.Fprintln(w, "|---:|---:|---|---:|---:|---:|---:|---:|---|")
	for _, r := range results {
		heap, rss, used, keys := "—", "—", "—", "—"
		var target string
		switch r.backend {
		case "memory":
			heap, rss = perSession(r.heap, r.stored), perSession(r.rss, r.stored)
			limit := r.payload + memoryOverhead
			target = fmt.Sprintf("heap ≤ %d B: %s", limit, verdict(float64(r.heap)/float64(r.stored) <= float64(limit)))
		case "redis":
			used = perSession(r.usedMemory, r.stored)
			keys = fmt.Sprintf("%.2f", float64(r.keys)/float64(r.stored))
			target = fmt.Sprintf("≤ %d B: %s", redisTarget, verdict(float64(r.usedMemory)/float64(r.stored) <= redisTarget))
		}
		payload := strconv.Itoa(r.payload) + " B"
		if r.record > 0 {
			payload += fmt.Sprintf(" (record %d B)", r.record)
		}
		fmt.Fprintf(w, "| %s | %s | %s | %s | %s | %s | %s | %s | %s |\n",
			mdfmt.Thousands(float64(r.n)), mdfmt.Thousands(float64(r.stored)), r.backend, payload, heap, rss, used, keys, target)
	}
	fmt.Fprintln(w)
	for _, r := range results {
		if r.sessionKeyBytes > 0 {
			fmt.Fprintf(w, "- Redis, N = %s: MEMORY USAGE of a session key %.0f B (its value %d B), of a %d-session owner index %.0f B per member (sorted set, and claims where kept), means of %d samples each\n",
				mdfmt.Thousands(float64(r.n)), r.sessionKeyBytes, r.record, o.ownerSize, r.indexBytesPerMember, keySamples)
		}
	}
	fmt.Fprintln(w)

	fmt.Fprintln(w, "Create and Get, per operation:")
	fmt.Fprintln(w)
	fmt.Fprintln(w, "| N | backend | Create CPU/op client | Create CPU/op Redis | Create ops/s | Get CPU/op client | Get CPU/op Redis | Get ops/s |")
	fmt.Fprintln(w, "|---:|---|---:|---:|---:|---:|---:|---:|")
	for _, r := range results {
		fmt.Fprintf(w, "| %s | %s | %s | %s | %s | %s | %s | %s |\n", mdfmt.Thousands(float64(r.n)), r.backend,
			mdfmt.CPU(r.create.perOp(r.create.client)), mdfmt.CPU(r.create.perOp(r.create.server)), mdfmt.Thousands(r.create.opsPerSec()),
			mdfmt.CPU(r.get.perOp(r.get.client)), mdfmt.CPU(r.get.perOp(r.get.server)), mdfmt.Thousands(r.get.opsPerSec()))
	}
	fmt.Fprintln(w)

	fmt.Fprintf(w, "Owner operations, time per call (median and slowest of the calls; CPU per call of this process and of Redis):\n\n")
	fmt.Fprintf(w, "| N | backend | ListByOwner, %d sessions | ListByOwner, %s sessions | DestroyByOwner, %d sessions | DestroyByOwner, %s sessions |\n",
		o.ownerSize, mdfmt.Thousands(float64(o.bigOwner)), o.ownerSize, mdfmt.Thousands(float64(o.bigOwner)))
	fmt.Fprintln(w, "|---:|---|---:|---:|---:|---:|")
	for _, r := range results {
		fmt.Fprintf(w, "| %s | %s | %s | %s | %s | %s |\n", mdfmt.Thousands(float64(r.n)), r.backend,
			ownerCell(r.list10), ownerCell(r.listBig), ownerCell(r.destroy10), ownerCell(r.destroyB))
	}
	fmt.Fprintln(w)

	var rows []string
	for _, r := range results {
		for _, op := range []struct {
			name string
			c    cost
		}{
			{"Create", r.create}, {"Get", r.get},
			{fmt.Sprintf("ListByOwner, %d", o.ownerSize), r.list10}, {"ListByOwner, " + mdfmt.Thousands(float64(o.bigOwner)), r.listBig},
			{fmt.Sprintf("DestroyByOwner, %d", o.ownerSize), r.destroy10}, {"DestroyByOwner, " + mdfmt.Thousands(float64(o.bigOwner)), r.destroyB},
		} {
			if op.c.cmds == nil || op.c.ops == 0 {
				continue
			}
			rows = append(rows, fmt.Sprintf("| %s | %s | %.2f | %s |", mdfmt.Thousands(float64(r.n)), op.name,
				float64(op.c.cmds.Calls())/float64(op.c.ops), perOp(op.c.cmds, op.c.ops)))
		}
	}
	if len(rows) > 0 {
		fmt.Fprintln(w, "Redis commands per operation (INFO commandstats; the commands a script runs count too, and their time is also in the script's):")
		fmt.Fprintln(w)
		fmt.Fprintln(w, "| N | operation | calls/op | each command: calls/op × server time per call |")
		fmt.Fprintln(w, "|---:|---|---:|---|")
		for _, row := range rows {
			fmt.Fprintln(w, row)
		}
		fmt.Fprintln(w)
	}
}

func verdict(met bool) string {
	if met {
		return "met"
	}
	return "MISSED"
}

func ownerCell(c cost) string {
	if len(c.lat) == 0 {
		return "—"
	}
	s := mdfmt.Latency(median(c.lat))
	if len(c.lat) > 1 {
		s += fmt.Sprintf(" (slowest %s)", mdfmt.Latency(maxOf(c.lat)))
	}
	return fmt.Sprintf("%s; CPU %s + %s", s, mdfmt.CPU(c.perOp(c.client)), mdfmt.CPU(c.perOp(c.server)))
}

func maxOf(ds []time.Duration) time.Duration {
	var m time.Duration
	for _, d := range ds {
		m = max(m, d)
	}
	return m
}

// perSession formats total/n bytes.
func perSession(total int64, n int) string {
	if n == 0 {
		return "—"
	}
	return fmt.Sprintf("%.0f B", float64(total)/float64(n))
}

// perOp lists the commands of stats, the most called first: calls per
// operation and server time per call.
func perOp(stats redisproc.CmdStats, ops int64) string {
	var parts []string
	for _, name := range stats.Names() {
		parts = append(parts, fmt.Sprintf("%s %.2f × %s", name, float64(stats[name].Calls)/float64(ops), mdfmt.Fine(stats.PerCall(name))))
	}
	return strings.Join(parts, ", ")
}
