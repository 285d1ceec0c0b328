package main

import (
	"math/bits"
	"time"
)

// hist is a log-linear latency histogram in the manner of HDR histograms:
// values below 2^subBits nanoseconds have a bucket each, larger ones are
// kept with subBits significant bits (a relative error under 1/64). It
// covers up to 2^maxBits ns (about 18 minutes) in a fixed 18 KiB, so every
// goroutine keeps its own, records without locks or allocations, and the
// harness merges them at the end.
type hist struct {
	counts [(maxBits - subBits + 2) * subCount]uint64
	n      uint64
}

const (
	subBits  = 6
	subCount = 1 << subBits
	maxBits  = 40
)

func bucketOf(ns int64) int {
	v := uint64(max(ns, 0))
	if v >= 1<<maxBits {
		v = 1<<maxBits - 1
	}
	if v < subCount {
		return int(v)
	}
	shift := bits.Len64(v) - subBits - 1 // v>>shift is in [subCount, 2*subCount)
	return (shift+1)*subCount + int(v>>shift) - subCount
}

// bucketValue is the midpoint of bucket i in ns.
func bucketValue(i int) int64 {
	if i < subCount {
		return int64(i)
	}
	shift := i/subCount - 1
	low := int64(i%subCount+subCount) << shift
	return low + (int64(1)<<shift)/2
}

func (h *hist) record(d time.Duration) {
	h.counts[bucketOf(int64(d))]++
	h.n++
}

func (h *hist) merge(o *hist) {
	for i, c := range o.counts {
		h.counts[i] += c
	}
	h.n += o.n
}

// quantile returns the q-quantile (0 < q <= 1) of the recorded values, or 0
// if there are none.
func (h *hist) quantile(q float64) time.Duration {
	if h.n == 0 {
		return 0
	}
	rank := uint64(q*float64(h.n) + 0.5)
	rank = min(max(rank, 1), h.n)
	var seen uint64
	for i, c := range h.counts {
		seen += c
		if seen >= rank {
			return time.Duration(bucketValue(i))
		}
	}
	return time.Duration(bucketValue(len(h.counts) - 1))
}
