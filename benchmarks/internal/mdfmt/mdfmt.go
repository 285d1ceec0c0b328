// Package mdfmt formats the figures of the benchmark reports of this
// module: durations with three significant digits, counts with thousands
// separators, ratios.
package mdfmt

import (
	"fmt"
	"math"
	"strconv"
	"strings"
	"time"
)

// Thousands formats f rounded to an integer with comma separators.
func Thousands(f float64) string {
	s := strconv.FormatInt(int64(math.Round(f)), 10)
	var b strings.Builder
	for i, r := range s {
		if i > 0 && (len(s)-i)%3 == 0 && s[i-1] != '-' {
			b.WriteByte(',')
		}
		b.WriteRune(r)
	}
	return b.String()
}

// Latency formats d with three significant digits.
func Latency(d time.Duration) string {
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

// Fine is Latency with two decimals below 10 µs, for server times.
func Fine(d time.Duration) string {
	if d >= 0 && d < 10*time.Microsecond {
		return fmt.Sprintf("%.2fµs", float64(d)/1e3)
	}
	return Latency(d)
}

// CPU formats a CPU time per operation; a negative one is unknown, "—".
func CPU(d time.Duration) string {
	if d < 0 {
		return "—"
	}
	return Latency(d)
}

// Ratio formats r as "1.23×", or "12×" from 10 up; a ratio that is not a
// positive number is "—".
func Ratio(r float64) string {
	switch {
	case r <= 0 || math.IsNaN(r) || math.IsInf(r, 0):
		return "—"
	case r >= 10:
		return fmt.Sprintf("%.0f×", r)
	}
	return fmt.Sprintf("%.2f×", r)
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
