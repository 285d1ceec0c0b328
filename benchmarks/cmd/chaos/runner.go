package main

import (
	"errors"
	"fmt"
	"os"
	"sync"
	"testing"
)

// runner lets a command use internal/redistest, whose functions take a
// testing.TB, outside a test. It implements the methods redistest calls
// (Helper, Fatalf, Skipf, Cleanup, TempDir); the embedded nil TB is there
// only to satisfy the interface's unexported method, so any other method
// would panic. Fatalf and Skipf panic with a failure that try turns back
// into an error.
type runner struct {
	testing.TB

	dir      string // parent of every TempDir, removed by close
	mu       sync.Mutex
	cleanups []func()
}

// failure is what Fatalf and Skipf panic with.
type failure struct{ msg string }

func newRunner() (*runner, error) {
	dir, err := os.MkdirTemp("", "sessionkit-chaos-")
	if err != nil {
		return nil, err
	}
	return &runner{dir: dir}, nil
}

// Helper does nothing.
func (r *runner) Helper() {}

// Fatalf stops the caller by panicking with the message; see try.
func (r *runner) Fatalf(format string, args ...any) {
	panic(failure{fmt.Sprintf(format, args...)})
}

// Skipf is Fatalf: a command has nothing to skip to.
func (r *runner) Skipf(format string, args ...any) { r.Fatalf(format, args...) }

// Logf writes to stderr.
func (r *runner) Logf(format string, args ...any) { fmt.Fprintf(os.Stderr, format+"\n", args...) }

// Cleanup registers f to run at close, last registered first.
func (r *runner) Cleanup(f func()) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.cleanups = append(r.cleanups, f)
}

// TempDir returns a new directory under the runner's, removed at close.
func (r *runner) TempDir() string {
	dir, err := os.MkdirTemp(r.dir, "")
	if err != nil {
		r.Fatalf("chaos: %v", err)
	}
	return dir
}

// close runs the cleanups (redistest stops its servers there) and removes
// the directories.
func (r *runner) close() {
	r.mu.Lock()
	fs := r.cleanups
	r.cleanups = nil
	r.mu.Unlock()
	for i := len(fs) - 1; i >= 0; i-- {
		fs[i]()
	}
	_ = os.RemoveAll(r.dir)
}

// try runs f and returns the message of a Fatalf or Skipf inside it as an
// error. Other panics go on.
func try(f func()) (err error) {
	defer func() {
		if v := recover(); v != nil {
			fl, ok := v.(failure)
			if !ok {
				panic(v)
			}
			err = errors.New(fl.msg)
		}
	}()
	f()
	return nil
}
