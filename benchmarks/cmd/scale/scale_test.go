package main

import (
	"bytes"
	"context"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/sessionkit/sessionkit/internal/redistest"
)

func TestFlags(t *testing.T) {
	o, err := parseFlags([]string{"-quick"})
	if err != nil {
		t.Fatal(err)
	}
	if !slices.Equal(o.sizes, []int{10_000, 100_000}) || !slices.Equal(o.backends, []string{"memory", "redis"}) {
		t.Errorf("-quick: sizes %v, backends %v", o.sizes, o.backends)
	}
	if o, err = parseFlags(nil); err != nil || !slices.Equal(o.sizes, []int{10_000, 100_000, 1_000_000}) {
		t.Errorf("defaults: sizes %v, err %v", o.sizes, err)
	}
	for _, bad := range [][]string{
		{"-sizes", "15"},                       // not a multiple of the owner size
		{"-sizes", "100", "-owner-calls", "6"}, // fewer than 2 × 6 owners
		{"-backends", "postgres"},
		{"-goroutines", "0"},
		{"-get-duration", "0s"},
		{"-sizes", "-10"},
	} {
		if _, err := parseFlags(bad); err == nil {
			t.Errorf("parseFlags(%q) succeeded", bad)
		}
	}
}

// TestSmallRun measures both backends at a small size, on a redis-server
// of its own, and checks what the tables are made of: the load counted
// every session, memory grew, every owner operation ran (measure itself
// fails if a count is wrong or a destroyed session can still be read).
func TestSmallRun(t *testing.T) {
	srv := redistest.Standalone(t)
	o, err := parseFlags([]string{"-sizes", "200", "-big-owner", "150", "-owner-calls", "5", "-goroutines", "4", "-get-duration", "50ms"})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	var results []result
	for _, b := range o.backends {
		res, err := measure(ctx, o, b, 200, srv.Addr)
		if err != nil {
			t.Fatalf("%s: %v", b, err)
		}
		if res.stored != 350 || res.owners != 20 || res.create.ops != 350 || res.get.ops == 0 {
			t.Errorf("%s: stored %d, owners %d, created %d, got %d", b, res.stored, res.owners, res.create.ops, res.get.ops)
		}
		if len(res.list10.lat) != 5 || len(res.listBig.lat) != 3 || len(res.destroy10.lat) != 5 || len(res.destroyB.lat) != 1 {
			t.Errorf("%s: owner calls %d, %d, %d, %d", b, len(res.list10.lat), len(res.listBig.lat), len(res.destroy10.lat), len(res.destroyB.lat))
		}
		if res.payload < 200 {
			t.Errorf("%s: payload %d bytes", b, res.payload)
		}
		results = append(results, res)
	}
	mem, red := results[0], results[1]
	if mem.heap <= int64(mem.stored*mem.payload) {
		t.Errorf("memory: heap grew %d bytes for %d sessions of %d bytes", mem.heap, mem.stored, mem.payload)
	}
	// 350 sessions and the index of each of 21 owners (a sorted set: the
	// server is no Cluster, so there are no claims).
	if red.keys != 350+21 || red.usedMemory <= int64(red.stored*red.payload) || red.record <= red.payload {
		t.Errorf("redis: %d keys, used_memory grew %d bytes, record %d bytes", red.keys, red.usedMemory, red.record)
	}
	if red.sessionKeyBytes <= float64(red.record) || red.indexBytesPerMember <= 0 {
		t.Errorf("redis: MEMORY USAGE of a session key %v, of an index per member %v", red.sessionKeyBytes, red.indexBytesPerMember)
	}
	if red.create.cmds.Scripts().Calls < 350 || red.get.cmds["get"].Calls < red.get.ops {
		t.Errorf("redis: commands of Create %v, of Get %v", red.create.cmds, red.get.cmds)
	}
	if n := srv.Do(t, "DBSIZE"); n != "0" {
		t.Errorf("after the run the server holds %s keys", n)
	}
	var out bytes.Buffer
	printResults(&out, o, results)
	for _, want := range []string{"| 200 | 350 | memory | 266 B |", "| 200 | 350 | redis | 266 B (record ", "| 200 | redis |", "| 200 | Create |", "DestroyByOwner, 150 sessions", "- Redis, N = 200: MEMORY USAGE of a session key "} {
		if !strings.Contains(out.String(), want) {
			t.Errorf("report lacks %q:\n%s", want, out.String())
		}
	}
}
