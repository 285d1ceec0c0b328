// Package runenv describes where a benchmark ran, for the header of its
// report: the CPU, the load the machine's other processes put on it, and
// the source that was measured.
package runenv

import (
	"os"
	"os/exec"
	"strings"
)

// LoadAverage returns the 1, 5 and 15 minute load averages of
// /proc/loadavg as "a, b, c", or "" where there is none.
func LoadAverage() string {
	b, err := os.ReadFile("/proc/loadavg")
	if err != nil {
		return ""
	}
	f := strings.Fields(string(b))
	if len(f) < 3 {
		return ""
	}
	return strings.Join(f[:3], ", ")
}

// CPUModel returns " (model name)" from /proc/cpuinfo, or "".
func CPUModel() string {
	b, err := os.ReadFile("/proc/cpuinfo")
	if err != nil {
		return ""
	}
	for line := range strings.SplitSeq(string(b), "\n") {
		if k, v, ok := strings.Cut(line, ":"); ok && strings.TrimSpace(k) == "model name" {
			return " (" + strings.TrimSpace(v) + ")"
		}
	}
	return ""
}

// maxListed bounds the changed files Source names.
const maxListed = 8

// Source returns the commit of the working directory's Git checkout and
// whether files outside benchmarks/ (the library the benchmarks build
// through their replace directive) differ from it, or "" without Git.
func Source() string {
	out, err := exec.Command("git", "rev-parse", "--short=12", "HEAD").Output()
	if err != nil {
		return ""
	}
	rev := strings.TrimSpace(string(out))
	out, err = exec.Command("git", "status", "--porcelain", "--untracked-files=no", "--", ":(top)", ":(top,exclude)benchmarks").Output()
	if err != nil {
		return "commit " + rev
	}
	var files []string
	// Each line is two status letters, a space and the path; the first
	// letter may be a space, so the output is not trimmed before splitting.
	for line := range strings.SplitSeq(strings.TrimRight(string(out), "\n"), "\n") {
		if len(line) > 3 {
			files = append(files, strings.TrimSpace(line[3:]))
		}
	}
	switch {
	case len(files) == 0:
		return "commit " + rev + ", no uncommitted change outside benchmarks/"
	case len(files) > maxListed:
		files = append(files[:maxListed], "...")
	}
	return "commit " + rev + " with uncommitted changes in " + strings.Join(files, ", ")
}
