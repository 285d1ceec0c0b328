package conformance

import (
	"context"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/sessionkit/sessionkit/backend"
	"github.com/sessionkit/sessionkit/codec"
)

// TestRun runs the suite against the reference backend, which keeps the
// whole contract: every case must pass.
func TestRun(t *testing.T) {
	t.Parallel()
	Run(t, func(tb testing.TB) backend.Backend { return newRef(tb, 0) })
}

// coreOnly hides the optional capabilities of the backend it wraps.
type coreOnly struct{ backend.Backend }

// TestRunWithoutCapabilities runs the suite against a backend with no
// optional capability: the capability cases are skipped, the rest pass.
func TestRunWithoutCapabilities(t *testing.T) {
	t.Parallel()
	Run(t, func(tb testing.TB) backend.Backend { return coreOnly{newRef(tb, 0)} })
}

// TestCapabilities: the reference has every capability the suite knows,
// so TestRun runs every case, and coreOnly hides each one, so
// TestRunWithoutCapabilities skips every capability case.
func TestCapabilities(t *testing.T) {
	ref := newRef(t, 0)
	for _, c := range []struct {
		bit  capability
		name string
	}{
		{capOwnerIndex, "OwnerIndex"},
		{capRekeyer, "Rekeyer"},
		{capFreshLoader, "FreshLoader"},
		{capNotifier, "Notifier"},
	} {
		if m := c.bit.missing(ref); m != "" {
			t.Errorf("the reference backend lacks %s", m)
		}
		if m := c.bit.missing(coreOnly{ref}); m != c.name {
			t.Errorf("coreOnly: missing = %q, want %q", m, c.name)
		}
		used := false
		for _, tc := range cases() {
			used = used || tc.needs&c.bit != 0
		}
		if !used {
			t.Errorf("no case needs %s", c.name)
		}
	}
}

func TestRunCodecBuiltins(t *testing.T) {
	for _, c := range []codec.Codec{codec.MsgPack(), codec.JSON(), codec.Gob()} {
		t.Run(c.Name(), func(t *testing.T) {
			t.Parallel()
			RunCodec(t, c)
		})
	}
}

// TestCaseTable checks the table itself: unique CamelCase names that -run
// can select, a contract sentence and a check in every row, and
// Close/Twice last.
func TestCaseTable(t *testing.T) {
	name := regexp.MustCompile(`^[A-Z][A-Za-z0-9]*/[A-Z][A-Za-z0-9]*$`)
	seen := map[string]bool{}
	cs := cases()
	for _, c := range cs {
		if !name.MatchString(c.name) {
			t.Errorf("case name %q is not Group/Case in CamelCase", c.name)
		}
		if seen[c.name] {
			t.Errorf("case name %q appears twice", c.name)
		}
		seen[c.name] = true
		if c.check == nil || !strings.HasSuffix(c.rule, ".") {
			t.Errorf("case %q needs a check and a contract sentence, got rule %q", c.name, c.rule)
		}
	}
	if last := cs[len(cs)-1].name; last != "Close/Twice" {
		t.Errorf("last case is %q, want Close/Twice", last)
	}
	for _, c := range codecCases() {
		if !regexp.MustCompile(`^[A-Z][A-Za-z0-9]*$`).MatchString(c.name) || c.rule == "" || c.check == nil {
			t.Errorf("codec case %q is incomplete", c.name)
		}
	}
}

// TestRunCaseTimeout checks that a backend that blocks fails its case
// instead of blocking the run.
func TestRunCaseTimeout(t *testing.T) {
	t.Parallel()
	c := testCase{name: "Load/NotFound", check: checkLoadNotFound}
	start := time.Now()
	err := runCase(context.Background(), c, newRef(t, flawHangs), 200*time.Millisecond)
	if err == nil || !strings.Contains(err.Error(), "ignores its context") {
		t.Fatalf("runCase with a hanging backend = %v, want a hang reported", err)
	}
	if d := time.Since(start); d > 2*time.Second {
		t.Fatalf("runCase took %v to give up on a hanging backend", d)
	}
}

// TestRunCasePanic checks that a panicking backend fails its case with the
// panic's message.
func TestRunCasePanic(t *testing.T) {
	t.Parallel()
	c := testCase{name: "Load/NotFound", check: func(context.Context, backend.Backend) error { panic("boom") }}
	err := runCase(context.Background(), c, newRef(t, 0), time.Second)
	if err == nil || !strings.Contains(err.Error(), "boom") {
		t.Fatalf("runCase with a panicking check = %v, want the panic reported", err)
	}
}

func BenchmarkReference(b *testing.B) {
	Benchmark(b, func(tb testing.TB) backend.Backend { return newRef(tb, 0) })
}
