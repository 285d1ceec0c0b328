package redistest

import (
	"bytes"
	"context"
	"fmt"
	"os/exec"
	"strings"
	"testing"
	"time"

	"github.com/sessionkit/sessionkit/internal/childproc"
)

const (
	clusterSize    = 3
	clusterTimeout = 20 * time.Second // redis-cli --cluster create, then cluster_state:ok
	clusterPoll    = 50 * time.Millisecond
)

// Cluster is a Redis Cluster of three masters without replicas, each
// owning a third of the 16384 slots.
type Cluster struct {
	// Addrs holds the masters' "127.0.0.1:PORT" addresses; any one of them
	// is a seed for a cluster client.
	Addrs []string
	// Nodes are the masters, in the order of Addrs. Killing one makes its
	// slots unavailable (there is no replica to fail over to); Restart
	// brings it back with the same identity and slots.
	Nodes []*Server
}

// NewCluster starts three cluster-enabled redis-server masters (each with
// its own directory and nodes.conf, its port and bus port free), joins
// them with redis-cli --cluster create ... --cluster-yes, waits until every
// node reports cluster_state:ok (bounded, 20 s), and stops them when tb
// ends. It calls Require and also needs redis-cli (same package on Debian).
func NewCluster(tb testing.TB) *Cluster {
	tb.Helper()
	Require(tb)
	requireBinary(tb, "redis-cli")
	c := &Cluster{}
	for i := 0; i < clusterSize; i++ {
		s := newServer(tb, fmt.Sprintf("cluster node %d", i), "", nil, []string{
			"--cluster-enabled", "yes",
			"--cluster-config-file", "nodes.conf", // relative to --dir
		})
		tb.Cleanup(s.stop)
		s.startFresh(tb, true)
		c.Nodes = append(c.Nodes, s)
		c.Addrs = append(c.Addrs, s.Addr)
	}

	ctx, cancel := context.WithTimeout(context.Background(), clusterTimeout)
	defer cancel()
	deadline, _ := ctx.Deadline()
	args := append([]string{"--cluster", "create"}, c.Addrs...)
	args = append(args, "--cluster-replicas", "0", "--cluster-yes")
	cmd := exec.CommandContext(ctx, "redis-cli", args...)
	var out bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &out
	cmd.Stdin = strings.NewReader("yes\n") // for a redis-cli without --cluster-yes
	err := childproc.Start(cmd)
	if err == nil {
		err = cmd.Wait()
	}
	if err != nil {
		tb.Fatalf("redistest: redis-cli %s: %v\n%s\n%s", strings.Join(args, " "), err, out.String(), c.logs())
	}

	c.waitOK(tb, deadline, out.String())
	return c
}

// WaitOK waits until every node reports cluster_state:ok, for instance
// after Restart of a node, and fails tb after 20 s.
func (c *Cluster) WaitOK(tb testing.TB) {
	tb.Helper()
	c.waitOK(tb, time.Now().Add(clusterTimeout), "")
}

func (c *Cluster) waitOK(tb testing.TB, deadline time.Time, cliOutput string) {
	tb.Helper()
	for _, s := range c.Nodes {
		for {
			info, err := s.Exec("CLUSTER", "INFO")
			if err == nil && infoField(info, "cluster_state") == "ok" {
				break
			}
			if time.Now().After(deadline) {
				tb.Fatalf("redistest: %s on %s: no cluster_state:ok within %v (last: %q, %v)\n%s\n%s",
					s.name, s.Addr, clusterTimeout, infoField(info, "cluster_state"), err, cliOutput, c.logs())
			}
			time.Sleep(clusterPoll) // no signal for a cluster state change
		}
	}
}

func (c *Cluster) logs() string {
	var b strings.Builder
	for _, s := range c.Nodes {
		b.WriteString(s.logs())
	}
	return b.String()
}
