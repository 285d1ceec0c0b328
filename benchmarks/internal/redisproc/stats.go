package redisproc

import (
	"fmt"
	"sort"
	"strconv"
	"strings"
	"time"
)

// CmdStat is one command's line of INFO commandstats: how often it ran and
// the server time it took, in microseconds. Commands that scripts call
// count too (Redis 7 counts a GET inside a script as a GET, and its time
// also in the script's own EVALSHA).
type CmdStat struct {
	Calls int64
	Usec  int64
}

// CmdStats maps a command name ("get", "evalsha") to its counters.
type CmdStats map[string]CmdStat

// Scripts is the sum of the script calls: FCALL, EVALSHA and EVAL (a
// sessionkit Backend sends its scripts as FCALL of its library, and with
// EVALSHA where the server refuses libraries).
func (d CmdStats) Scripts() CmdStat {
	var s CmdStat
	for _, c := range []string{"fcall", "evalsha", "eval"} {
		s.Calls += d[c].Calls
		s.Usec += d[c].Usec
	}
	return s
}

// CommandStats returns the server's INFO commandstats.
func CommandStats(addr string) (CmdStats, error) {
	info, err := Command(addr, "INFO", "commandstats")
	if err != nil {
		return nil, err
	}
	return ParseCommandStats(info)
}

// ParseCommandStats reads the lines
// "cmdstat_get:calls=3,usec=12,usec_per_call=4.00,..." of INFO
// commandstats.
func ParseCommandStats(info string) (CmdStats, error) {
	out := CmdStats{}
	for line := range strings.SplitSeq(info, "\n") {
		name, rest, ok := strings.Cut(strings.TrimSpace(line), ":")
		name, isCmd := strings.CutPrefix(name, "cmdstat_")
		if !ok || !isCmd {
			continue
		}
		var st CmdStat
		for kv := range strings.SplitSeq(rest, ",") {
			k, v, _ := strings.Cut(kv, "=")
			n, err := strconv.ParseInt(v, 10, 64)
			switch k {
			case "calls":
				st.Calls = n
			case "usec":
				st.Usec = n
			default:
				continue
			}
			if err != nil {
				return nil, fmt.Errorf("commandstats: %q: %w", line, err)
			}
		}
		out[name] = st
	}
	return out, nil
}

// Sub returns the counters of s minus those of before: what ran in
// between. Commands that did not run are left out; so is "info", which
// the harness itself sends.
func (s CmdStats) Sub(before CmdStats) CmdStats {
	out := CmdStats{}
	for name, st := range s {
		d := CmdStat{Calls: st.Calls - before[name].Calls, Usec: st.Usec - before[name].Usec}
		if d.Calls > 0 && name != "info" {
			out[name] = d
		}
	}
	return out
}

// Calls returns the number of calls of every command in s.
func (s CmdStats) Calls() int64 {
	var n int64
	for _, st := range s {
		n += st.Calls
	}
	return n
}

// PerCall returns the server time per call of command name, or -1 if it
// did not run.
func (s CmdStats) PerCall(name string) time.Duration {
	st, ok := s[name]
	if !ok || st.Calls == 0 {
		return -1
	}
	return time.Duration(st.Usec) * time.Microsecond / time.Duration(st.Calls)
}

// Names returns the commands in s, the most called first.
func (s CmdStats) Names() []string {
	names := make([]string, 0, len(s))
	for name := range s {
		names = append(names, name)
	}
	sort.Slice(names, func(i, j int) bool {
		if a, b := s[names[i]].Calls, s[names[j]].Calls; a != b {
			return a > b
		}
		return names[i] < names[j]
	})
	return names
}

// UsedMemory returns used_memory of INFO memory: the bytes the server's
// allocator hands out, data and overhead.
func UsedMemory(addr string) (int64, error) {
	info, err := Command(addr, "INFO", "memory")
	if err != nil {
		return 0, err
	}
	return strconv.ParseInt(InfoField(info, "used_memory"), 10, 64)
}

// DBSize returns the number of keys in the server's database 0.
func DBSize(addr string) (int64, error) {
	s, err := Command(addr, "DBSIZE")
	if err != nil {
		return 0, err
	}
	return strconv.ParseInt(s, 10, 64)
}
