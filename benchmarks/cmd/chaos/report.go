package main

import (
	"fmt"
	"io"
	"slices"
	"time"
)

// report is the run's figures, printed as Markdown tables.
type report struct {
	opts       options
	version    string
	ran        time.Duration
	o          *oracle
	f          *injector
	goroutines [3]int // before the instances, at the end of the load, after closing
}

func (r *report) violations() int {
	r.o.mu.Lock()
	defer r.o.mu.Unlock()
	n := 0
	for _, v := range r.o.violations {
		n += v
	}
	return n
}

// quantile returns the q-quantile of ds (sorted in place), 0 for none.
func quantile(ds []time.Duration, q float64) time.Duration {
	if len(ds) == 0 {
		return 0
	}
	slices.Sort(ds)
	return ds[int(q*float64(len(ds)-1))]
}

func ms(d time.Duration) string { return fmt.Sprintf("%.0f ms", float64(d)/float64(time.Millisecond)) }

func (r *report) write(w io.Writer) {
	o, f := r.o, r.f
	o.mu.Lock()
	defer o.mu.Unlock()
	f.mu.Lock()
	defer f.mu.Unlock()

	restart := "as a replica"
	if r.opts.faults.restartEmpty {
		restart = "as an empty master"
	}
	fmt.Fprintf(w, "Chaos run: faults for %v (%v with the last recovery), Redis %s (master, replica, Sentinel), "+
		"3 instances, %d ops/s by %d goroutines, WithWaitReplicas(1, %v), cache TTL %v, "+
		"SIGSTOP for %v, killed primaries restarted %s, seed %d\n\n",
		r.opts.duration, r.ran.Round(100*time.Millisecond), r.version, r.opts.load.rate,
		3*r.opts.load.workers, r.opts.waitTimeout, r.opts.cacheTTL, r.opts.faults.pause, restart, r.opts.load.seed)

	fmt.Fprint(w, "| operation | calls |")
	for _, n := range classNames {
		fmt.Fprintf(w, " %s |", n)
	}
	fmt.Fprint(w, "\n|---|---:|")
	for range classNames {
		fmt.Fprint(w, "---:|")
	}
	fmt.Fprintln(w)
	var total [numClasses]int
	for op := range numOps {
		calls := 0
		for c := range numClasses {
			calls += o.ops[op][c]
			total[c] += o.ops[op][c]
		}
		fmt.Fprintf(w, "| %s | %d |", opNames[op], calls)
		for c := range numClasses {
			fmt.Fprintf(w, " %d |", o.ops[op][c])
		}
		fmt.Fprintln(w)
	}
	calls := 0
	for _, n := range total {
		calls += n
	}
	fmt.Fprintf(w, "| all | %d |", calls)
	for _, n := range total {
		fmt.Fprintf(w, " %d |", n)
	}
	fmt.Fprint(w, "\n\n")

	fmt.Fprintln(w, "| fault | injected | writes back p50 | max | durable writes p50 | max |")
	fmt.Fprintln(w, "|---|---:|---:|---:|---:|---:|")
	for k := range numFaults {
		fmt.Fprintf(w, "| %s | %d | %s | %s | %s | %s |\n", faultNames[k], f.counts[k],
			ms(quantile(f.back[k], 0.5)), ms(quantile(f.back[k], 1)),
			ms(quantile(f.durable[k], 0.5)), ms(quantile(f.durable[k], 1)))
	}
	fmt.Fprintln(w)

	fmt.Fprintln(w, "| check | count |")
	fmt.Fprintln(w, "|---|---:|")
	n := 0
	for k, v := range o.violations {
		fmt.Fprintf(w, "| %s | %d |\n", violationNames[k], v)
		n += v
	}
	fmt.Fprintf(w, "| **violations** | **%d** |\n", n)
	fmt.Fprintf(w, "| allowed: ErrNotDurable logout undone | %d |\n", o.lostLogouts)
	fmt.Fprintf(w, "| allowed: ErrNotDurable update lost | %d |\n", o.lostUpdates)
	fmt.Fprintf(w, "| allowed: ErrNotDurable create lost | %d |\n", o.lostCreates)
	st := slices.Clone(o.staleGets)
	fmt.Fprintf(w, "| Get answers that missed an acknowledged write (p50 %s, p99 %s, max %s) | %d |\n",
		ms(quantile(st, 0.5)), ms(quantile(st, 0.99)), ms(quantile(st, 1)), len(st))
	fmt.Fprintf(w, "| sessions checked at the end | %d |\n", o.finalChecked)
	fmt.Fprintf(w, "| goroutines: before the instances / at the end of the load / after closing | %d / %d / %d |\n",
		r.goroutines[0], r.goroutines[1], r.goroutines[2])
	if len(o.errSamples) > 0 {
		fmt.Fprintln(w, "\nFirst error of each class:")
		for c := range numClasses {
			if msg, ok := o.errSamples[c]; ok {
				fmt.Fprintf(w, "- %s: %s\n", classNames[c], msg)
			}
		}
	}
}
