package main

import (
	"strconv"
	"time"

	"github.com/sessionkit/sessionkit/benchmarks/internal/redisproc"
)

// yardsticks are server costs measured after the cells, one command at a
// time (redisproc.Yardsticks): a SET of a sessionkit record's size and the
// smallest script call.
type yardsticks struct {
	size   int // bytes of the sessionkit record the SET is the size of
	set    time.Duration
	script time.Duration // EVALSHA of "return 1"
}

// yardstickCalls is how many of each command the yardsticks send (about
// two seconds on loopback).
const yardstickCalls = 10_000

// measureYardsticks finds a session record under one of prefixes and
// measures the yardsticks with its size; ok is false if there is none.
func measureYardsticks(addr string, prefixes []string) (y yardsticks, ok bool) {
	for _, p := range prefixes {
		key, err := redisproc.RandomKeyWithPrefix(addr, p, 5000)
		if err != nil {
			continue
		}
		s, err := redisproc.Command(addr, "STRLEN", key)
		if err != nil {
			progress("yardsticks: STRLEN %s: %v", key, err)
			continue
		}
		if y.size, err = strconv.Atoi(s); err != nil {
			continue
		}
		if y.set, y.script, err = redisproc.Yardsticks(addr, y.size, yardstickCalls); err != nil {
			progress("yardsticks: %v", err)
			return y, false
		}
		progress("SET of %d bytes (a %s record): %v per call; EVALSHA of \"return 1\": %v", y.size, p, y.set, y.script)
		return y, true
	}
	return y, false
}
