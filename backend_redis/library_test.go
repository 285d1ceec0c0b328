package redisbackend_test

import (
	"fmt"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/redis/rueidis"

	"github.com/sessionkit/sessionkit/internal/redistest"
	"github.com/sessionkit/sessionkit/session"
)

// calls is how many times each of the servers ran cmd (INFO
// commandstats), summed.
func calls(t *testing.T, cmd string, servers ...*redistest.Server) int {
	t.Helper()
	re := regexp.MustCompile(`cmdstat_` + cmd + `:calls=(\d+)`)
	total := 0
	for _, s := range servers {
		if m := re.FindStringSubmatch(s.Do(t, "INFO", "commandstats")); m != nil {
			n, _ := strconv.Atoi(m[1])
			total += n
		}
	}
	return total
}

// testLibraryLost: the writes run as the functions of the package's
// library; after every server lost it (FUNCTION FLUSH, as a restart
// without persistence does), the next write still succeeds, loads the
// library into every node again, and the writes after it are FCALLs once
// more.
func testLibraryLost(t *testing.T, client rueidis.Client, servers ...*redistest.Server) {
	ctx := ctxT(t, time.Minute)
	m, err := session.NewManager[counter](newBackend(t, client))
	if err != nil {
		t.Fatal(err)
	}
	inc := func(s *session.Session[counter]) error { s.Data.N++; return nil }
	const n = 20
	ids := make([]string, n)
	for i := range ids {
		s, err := m.Create(ctx, fmt.Sprint("owner-", i), counter{})
		if err != nil {
			t.Fatal(err)
		}
		ids[i] = s.ID
	}
	before := calls(t, "fcall", servers...)
	for _, id := range ids {
		if _, err := m.Update(ctx, id, inc); err != nil {
			t.Fatal(err)
		}
	}
	if got := calls(t, "fcall", servers...) - before; got < n {
		t.Fatalf("%d Updates ran %d FCALLs", n, got)
	}

	for _, s := range servers {
		s.Do(t, "FUNCTION", "FLUSH")
	}
	for _, id := range ids {
		if _, err := m.Update(ctx, id, inc); err != nil {
			t.Fatalf("Update after FUNCTION FLUSH: %v", err)
		}
	}
	for _, s := range servers {
		if list := s.Do(t, "FUNCTION", "LIST"); !strings.Contains(list, "sessionkit_") {
			t.Errorf("%s has no sessionkit library after the writes that found it missing: %q", s.Addr, list)
		}
	}
	before = calls(t, "fcall", servers...)
	evals := calls(t, "eval", servers...)
	for _, id := range ids {
		s, err := m.Update(ctx, id, inc)
		if err != nil {
			t.Fatal(err)
		}
		if s.Data.N != 3 {
			t.Fatalf("N = %d after 3 Updates", s.Data.N)
		}
	}
	if got := calls(t, "fcall", servers...) - before; got < n {
		t.Errorf("%d Updates after the library was loaded again ran %d FCALLs", n, got)
	}
	if got := calls(t, "eval", servers...) - evals; got != 0 {
		t.Errorf("%d Updates after the library was loaded again ran %d EVALs", n, got)
	}
}

// testNoFunctions: a user who may not load or call functions gets a
// Backend that runs its scripts with EVALSHA.
func testNoFunctions(t *testing.T, srv *redistest.Server) {
	ctx := ctxT(t, time.Minute)
	for _, rules := range [][]string{{"-fcall", "-function"}, {"-fcall"}, {"-function"}} {
		name := "nofunc" + uniq()
		args := append([]string{"ACL", "SETUSER", name, "on", ">pw", "~*", "&*", "+@all"}, rules...)
		srv.Do(t, args...)
		c := newClient(t, rueidis.ClientOption{InitAddress: []string{srv.Addr}, Username: name, Password: "pw"})
		m, err := session.NewManager[counter](newBackend(t, c))
		if err != nil {
			t.Fatalf("%v: %v", rules, err)
		}
		s, err := m.Create(ctx, "ada", counter{})
		if err != nil {
			t.Fatalf("%v: Create: %v", rules, err)
		}
		for range 3 {
			if s, err = m.Update(ctx, s.ID, func(s *session.Session[counter]) error { s.Data.N++; return nil }); err != nil {
				t.Fatalf("%v: Update: %v", rules, err)
			}
		}
		if got, err := m.Get(ctx, s.ID); err != nil || got.Data.N != 3 {
			t.Fatalf("%v: Get = %+v, %v after 3 Updates", rules, got, err)
		}
		if _, err := m.DestroyByOwner(ctx, "ada"); err != nil {
			t.Fatalf("%v: DestroyByOwner: %v", rules, err)
		}
	}
}
