package main

import (
	"context"
	"fmt"
	"io"
	"os/exec"
	"strconv"
	"strings"
	"time"

	"github.com/sessionkit/sessionkit/benchmarks/internal/mdfmt"
	"github.com/sessionkit/sessionkit/benchmarks/internal/redisproc"
)

// benchLine is one result line of redis-benchmark -q.
type benchLine struct {
	test     string // GET, SET
	pipeline int
	rps      string // requests per second, as printed
	p50      string // msec, as printed
}

// runRedisBenchmark runs redis-benchmark against addr for GET and SET with
// 256-byte values, unpipelined and with -P 16, n requests each (10 n with
// the pipeline, which is about ten times faster), and returns its numbers.
func runRedisBenchmark(ctx context.Context, binary, addr string, n int) ([]benchLine, error) {
	host, port, _ := strings.Cut(addr, ":")
	var out []benchLine
	for _, p := range []int{1, 16} {
		requests := n
		if p > 1 {
			requests *= 10
		}
		args := []string{"-h", host, "-p", port, "-t", "get,set", "-d", "256", "-n", strconv.Itoa(requests), "-q"}
		if p > 1 {
			args = append(args, "-P", strconv.Itoa(p))
		}
		cctx, cancel := context.WithTimeout(ctx, 2*time.Minute)
		cmd := exec.CommandContext(cctx, binary, args...)
		cmd.SysProcAttr = redisproc.SysProcAttr()
		b, err := cmd.CombinedOutput()
		cancel()
		if err != nil {
			return out, fmt.Errorf("%s %s: %w\n%s", binary, strings.Join(args, " "), err, b)
		}
		lines := parseRedisBenchmark(string(b), p)
		if len(lines) == 0 {
			return out, fmt.Errorf("%s %s: no results in %q", binary, strings.Join(args, " "), b)
		}
		out = append(out, lines...)
	}
	return out, nil
}

// parseRedisBenchmark reads the lines "SET: 86956.52 requests per second,
// p50=0.287 msec" of redis-benchmark -q; progress lines end in \r.
func parseRedisBenchmark(s string, pipeline int) []benchLine {
	var out []benchLine
	for _, line := range strings.FieldsFunc(s, func(r rune) bool { return r == '\n' || r == '\r' }) {
		test, rest, ok := strings.Cut(strings.TrimSpace(line), ": ")
		if !ok || !strings.Contains(rest, "requests per second") {
			continue
		}
		l := benchLine{test: test, pipeline: pipeline}
		l.rps, _, _ = strings.Cut(rest, " ")
		if _, p50, ok := strings.Cut(rest, "p50="); ok {
			l.p50, _, _ = strings.Cut(p50, " ")
		}
		out = append(out, l)
	}
	return out
}

func printRedisBenchmark(w io.Writer, lines []benchLine, n int) {
	fmt.Fprintf(w, "Server ceiling, `redis-benchmark -t get,set -d 256 -q` (50 clients, -n %d; -n %d with -P 16), same server:\n\n", n, 10*n)
	fmt.Fprintln(w, "| command | pipeline | requests/s | p50 |")
	fmt.Fprintln(w, "|---|---:|---:|---:|")
	for _, l := range lines {
		p50 := "—"
		if l.p50 != "" {
			p50 = l.p50 + " ms"
		}
		rps := l.rps
		if f, err := strconv.ParseFloat(l.rps, 64); err == nil {
			rps = mdfmt.Thousands(f)
		}
		fmt.Fprintf(w, "| %s | %d | %s | %s |\n", l.test, l.pipeline, rps, p50)
	}
	fmt.Fprintln(w)
}
