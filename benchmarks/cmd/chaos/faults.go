package main

import (
	"context"
	"errors"
	"fmt"
	"net"
	"slices"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/sessionkit/sessionkit/internal/redistest"
	"github.com/sessionkit/sessionkit/session"
)

// faultKind is one kind of fault the run injects.
type faultKind int

const (
	fClientKill   faultKind = iota // CLIENT KILL TYPE normal on the primary
	fPausePrimary                  // SIGSTOP, then SIGCONT, of the primary
	fKillRestart                   // kill -9 of the primary, restart as a replica once Sentinel failed over
	fPauseReplica                  // SIGSTOP, then SIGCONT, of the replica
	fFailover                      // SENTINEL FAILOVER
	numFaults
)

var faultNames = [numFaults]string{
	"CLIENT KILL on the primary",
	"SIGSTOP/SIGCONT of the primary",
	"kill -9 and restart of the primary",
	"SIGSTOP/SIGCONT of the replica",
	"SENTINEL FAILOVER",
}

// faultFlags are the names of the kinds in the -faults flag.
var faultFlags = [numFaults]string{"client-kill", "pause-primary", "kill-restart", "pause-replica", "failover"}

// defaultSchedule is the order of the faults, repeated until the run's
// time is up; the quick ones come first so that a short run sees every
// kind. It moves the primary three times, so the next round kills the
// other server.
const defaultSchedule = "client-kill,pause-primary,kill-restart,pause-replica,failover,kill-restart"

// parseSchedule reads a comma-separated list of fault names.
func parseSchedule(list string) ([]faultKind, error) {
	var ks []faultKind
	for name := range strings.SplitSeq(list, ",") {
		k := slices.Index(faultFlags[:], strings.TrimSpace(name))
		if k < 0 {
			return nil, fmt.Errorf("unknown fault %q (known: %s)", name, strings.Join(faultFlags[:], ", "))
		}
		ks = append(ks, faultKind(k))
	}
	return ks, nil
}

const (
	probeTimeout = 500 * time.Millisecond // one recovery probe
	probePause   = 20 * time.Millisecond  // between probes of one instance
	healthPoll   = 100 * time.Millisecond // between checks of the topology
)

// faultConfig is the schedule's timing.
type faultConfig struct {
	warmup         time.Duration // load without faults before the first
	gap            time.Duration // load without faults after each recovery
	pause          time.Duration // how long SIGSTOP lasts
	recoverTimeout time.Duration // bound on each recovery
	restartEmpty   bool          // restart a killed primary at once, as an empty master
	schedule       []faultKind   // the faults in order, repeated
}

// injector injects the faults on schedule into a Sentinel group and
// measures how long the Managers take to recover from each.
type injector struct {
	cfg  faultConfig
	r    *runner
	g    *redistest.SentinelGroup
	ms   []*session.Manager[Data]
	o    *oracle
	logf func(format string, args ...any)

	mu      sync.Mutex
	counts  [numFaults]int
	back    [numFaults][]time.Duration // until a write was applied on every instance
	durable [numFaults][]time.Duration // until a write was acknowledged by the replica on every instance
}

// run injects faults in schedule order from warmup on, each after the
// previous one's recovery and a gap, until end; the last one started is
// seen through to its recovery.
func (f *injector) run(end time.Time) {
	time.Sleep(f.cfg.warmup) // a fault schedule is time by nature
	for i := 0; time.Now().Before(end); i++ {
		k := f.cfg.schedule[i%len(f.cfg.schedule)]
		if err := f.inject(k); err != nil {
			f.o.violate(vNoRecovery, "%s: %v", faultNames[k], err)
			return // the topology is not what the next fault needs
		}
		if d := time.Until(end); d > 0 {
			time.Sleep(min(d, f.cfg.gap))
		}
	}
}

// roles returns the current primary and replica, as Sentinel sees them.
func (f *injector) roles() (primary, replica *redistest.Server, err error) {
	out, err := f.g.Sentinel.Exec("SENTINEL", "get-master-addr-by-name", f.g.MasterName)
	if err != nil {
		return nil, nil, err
	}
	addr := strings.Replace(out, "\n", ":", 1)
	switch addr {
	case f.g.Master.Addr:
		return f.g.Master, f.g.Replica, nil
	case f.g.Replica.Addr:
		return f.g.Replica, f.g.Master, nil
	}
	return nil, nil, fmt.Errorf("sentinel names %q as master, neither of ours", addr)
}

// inject injects one fault, waits until every instance has recovered and
// the group is healthy again (a replica linked and known to Sentinel), and
// records the recovery times, measured from the kill, the CLIENT KILL, the
// SIGCONT, or the moment Sentinel names the new master after SENTINEL
// FAILOVER.
func (f *injector) inject(k faultKind) error {
	primary, replica, err := f.roles()
	if err != nil {
		return err
	}
	var t0 time.Time
	var during func() error  // runs beside the probes
	var backs sync.WaitGroup // done when a write was applied through every instance
	switch k {
	case fClientKill:
		out, err := primary.Exec("CLIENT", "KILL", "TYPE", "normal")
		t0 = time.Now()
		if err != nil {
			return fmt.Errorf("CLIENT KILL: %w", err)
		}
		f.logf("t=%s CLIENT KILL TYPE normal on %s: %s connections", f.o.since(t0), primary.Addr, out)
	case fPausePrimary, fPauseReplica:
		srv := primary
		if k == fPauseReplica {
			srv = replica
		}
		if err := f.pause(srv); err != nil {
			return err
		}
		t0 = time.Now()
	case fKillRestart:
		old := primary.Addr
		pid := primary.Pid()
		primary.Kill()
		t0 = time.Now()
		f.logf("t=%s kill -9 of the primary %s (pid %d)", f.o.since(t0), old, pid)
		during = func() error {
			var addr string
			if err := try(func() { addr = f.g.WaitFailover(f.r, old) }); err != nil {
				return err
			}
			f.logf("t=%s Sentinel failed over to %s", f.o.since(time.Now()), addr)
			if f.cfg.restartEmpty {
				f.logf("t=%s restarting %s as an empty master", f.o.since(time.Now()), old)
				return try(func() { primary.Restart(f.r) })
			}
			// The killed server comes back empty (no persistence), so it
			// must not be reachable as a master: restart it once every
			// client writes to the new primary (a client redials the old
			// address until it follows +switch-master), and make it a
			// replica at once (Sentinel would wait about 10 s and could
			// meanwhile fail over to it, an empty master).
			backs.Wait()
			f.logf("t=%s restarting %s as a replica of %s", f.o.since(time.Now()), old, addr)
			if err := try(func() { primary.Restart(f.r) }); err != nil {
				return err
			}
			host, port, _ := net.SplitHostPort(addr)
			if _, err := primary.Exec("REPLICAOF", host, port); err != nil {
				return fmt.Errorf("REPLICAOF on the restarted %s: %w", old, err)
			}
			return nil
		}
	case fFailover:
		old := primary.Addr
		if _, err := f.g.Sentinel.Exec("SENTINEL", "FAILOVER", f.g.MasterName); err != nil {
			return fmt.Errorf("SENTINEL FAILOVER: %w", err)
		}
		f.logf("t=%s SENTINEL FAILOVER away from %s", f.o.since(time.Now()), old)
		// Until the switch the old primary serves as before, with its
		// replica: recovery counts from the switch.
		var addr string
		if err := try(func() { addr = f.g.WaitFailover(f.r, old) }); err != nil {
			return err
		}
		t0 = time.Now()
		f.logf("t=%s Sentinel failed over to %s", f.o.since(t0), addr)
	}

	back := make([]time.Duration, len(f.ms))
	durable := make([]time.Duration, len(f.ms))
	var wg sync.WaitGroup
	backs.Add(len(f.ms))
	for i, m := range f.ms {
		wg.Go(func() { back[i], durable[i] = f.probe(m, t0, backs.Done) })
	}
	var duringErr error
	if during != nil {
		duringErr = during()
	}
	wg.Wait()
	if duringErr != nil {
		return duringErr
	}
	var b, d time.Duration
	for i := range f.ms {
		if back[i] < 0 || durable[i] < 0 {
			return fmt.Errorf("instance %d: no durable write within %v", i, f.cfg.recoverTimeout)
		}
		b, d = max(b, back[i]), max(d, durable[i])
	}
	if err := f.waitHealthy(t0.Add(f.cfg.recoverTimeout)); err != nil {
		return err
	}
	f.logf("t=%s recovered: writes back after %v, durable after %v, healthy after %v",
		f.o.since(time.Now()), b.Round(time.Millisecond), d.Round(time.Millisecond), time.Since(t0).Round(time.Millisecond))
	f.mu.Lock()
	defer f.mu.Unlock()
	f.counts[k]++
	f.back[k] = append(f.back[k], b)
	f.durable[k] = append(f.durable[k], d)
	return nil
}

// pause stops srv for cfg.pause and continues it, whatever happens.
func (f *injector) pause(srv *redistest.Server) error {
	pid := srv.Pid()
	if pid == 0 {
		return fmt.Errorf("%s is not running", srv.Addr)
	}
	if err := syscall.Kill(pid, syscall.SIGSTOP); err != nil {
		return fmt.Errorf("SIGSTOP %d: %w", pid, err)
	}
	f.logf("t=%s SIGSTOP %s (pid %d) for %v", f.o.since(time.Now()), srv.Addr, pid, f.cfg.pause)
	defer func() { _ = syscall.Kill(pid, syscall.SIGCONT) }()
	time.Sleep(f.cfg.pause) // the fault is a duration
	return nil
}

// probe writes a fresh anonymous session through m until a write is
// applied and until one returns nil (the replica acknowledged it), and
// returns both times since t0, or -1 where it gave up after
// cfg.recoverTimeout. It calls isBack once, when a write was applied or it
// gave up. It deletes its sessions again.
func (f *injector) probe(m *session.Manager[Data], t0 time.Time, isBack func()) (back, durable time.Duration) {
	deadline := t0.Add(f.cfg.recoverTimeout)
	back, durable = -1, -1
	var ids []string
	defer func() {
		if back < 0 {
			isBack()
		}
		for _, id := range ids {
			ctx, cancel := context.WithTimeout(context.Background(), time.Second)
			f.o.count(opProbe, m.Destroy(ctx, id))
			cancel()
		}
	}()
	for {
		ctx, cancel := context.WithTimeout(context.Background(), probeTimeout)
		s, err := m.Create(ctx, "", Data{})
		cancel()
		c := f.o.count(opProbe, err)
		now := time.Now()
		if s != nil {
			ids = append(ids, s.ID)
			if back < 0 {
				back = now.Sub(t0)
				isBack()
			}
		}
		if c == classOK {
			durable = now.Sub(t0)
			return
		}
		if now.After(deadline) {
			return
		}
		time.Sleep(probePause) // nothing signals that the store is back
	}
}

// waitHealthy polls until the group is as a fault needs it, or deadline.
func (f *injector) waitHealthy(deadline time.Time) error {
	for {
		problem := f.unhealthy()
		if problem == "" {
			return nil
		}
		if time.Now().After(deadline) {
			return errors.New("group not healthy: " + problem)
		}
		time.Sleep(healthPoll) // Redis and Sentinel send no signal for these states
	}
}

// unhealthy returns what keeps the group from being healthy, or "": the
// master that Sentinel names is a master with the other server linked as
// an online replica (so it holds every acknowledged write), and Sentinel
// has no failover in progress and knows that replica, not down. (Sentinel
// learns of the link only from its INFO every 10 s; a failover does not
// need that, since Sentinel asks every second once the master is down.)
func (f *injector) unhealthy() string {
	primary, replica, err := f.roles()
	if err != nil {
		return err.Error()
	}
	info, err := primary.Exec("INFO", "replication")
	if err != nil {
		return "primary: " + err.Error()
	}
	if role := field(info, "role"); role != "master" {
		return fmt.Sprintf("%s has role %s", primary.Addr, role)
	}
	if s := field(info, "slave0"); !strings.Contains(s, "state=online") {
		return fmt.Sprintf("%s has no online replica (%q)", primary.Addr, s)
	}
	info, err = replica.Exec("INFO", "replication")
	if err != nil {
		return "replica: " + err.Error()
	}
	if field(info, "role") != "slave" || field(info, "master_port") != fmt.Sprint(primary.Port) ||
		field(info, "master_link_status") != "up" {
		return fmt.Sprintf("%s is not a linked replica of %s", replica.Addr, primary.Addr)
	}
	out, err := f.g.Sentinel.Exec("SENTINEL", "master", f.g.MasterName)
	if err != nil {
		return "sentinel: " + err.Error()
	}
	if flags := pairs(out)["flags"]; flags != "master" {
		return "sentinel sees the master as " + flags
	}
	out, err = f.g.Sentinel.Exec("SENTINEL", "replicas", f.g.MasterName)
	if err != nil {
		return "sentinel: " + err.Error()
	}
	for _, r := range entries(out) {
		if r["name"] == replica.Addr && r["flags"] == "slave" {
			return ""
		}
	}
	return "sentinel does not see " + replica.Addr + " as a replica"
}

// field returns a field of an INFO reply.
func field(info, name string) string {
	for line := range strings.SplitSeq(info, "\n") {
		if v, ok := strings.CutPrefix(strings.TrimSpace(line), name+":"); ok {
			return v
		}
	}
	return ""
}

// pairs reads a flattened field/value reply (SENTINEL master).
func pairs(flat string) map[string]string {
	m := map[string]string{}
	f := strings.Split(flat, "\n")
	for i := 0; i+1 < len(f); i += 2 {
		m[f[i]] = f[i+1]
	}
	return m
}

// entries reads a flattened list of field/value entries (SENTINEL
// replicas), each starting with its "name" field.
func entries(flat string) []map[string]string {
	var out []map[string]string
	f := strings.Split(flat, "\n")
	for i := 0; i+1 < len(f); i += 2 {
		if f[i] == "name" || len(out) == 0 {
			out = append(out, map[string]string{})
		}
		out[len(out)-1][f[i]] = f[i+1]
	}
	return out
}
