package otelsession_test

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.opentelemetry.io/otel/sdk/trace/tracetest"

	sdktrace "go.opentelemetry.io/otel/sdk/trace"

	"github.com/sessionkit/sessionkit/backend"
	"github.com/sessionkit/sessionkit/otelsession"
)

// full is a backend with every capability that records the calls it gets.
type full struct{ calls []string }

func (f *full) call(name string)                     { f.calls = append(f.calls, name) }
func (f *full) Close() error                         { f.call("Close"); return nil }
func (f *full) Delete(context.Context, string) error { f.call("Delete"); return nil }
func (f *full) Touch(context.Context, string, time.Time) error {
	f.call("Touch")
	return backend.ErrNotFound
}

func (f *full) Create(_ context.Context, r backend.Record) (backend.Record, error) {
	f.call("Create")
	return r, nil
}

func (f *full) Load(context.Context, string) (backend.Record, error) {
	f.call("Load")
	return backend.Record{}, backend.ErrNotFound
}

func (f *full) Update(context.Context, backend.Record) (backend.Record, error) {
	f.call("Update")
	return backend.Record{}, backend.ErrConflict
}

func (f *full) ListByOwner(context.Context, string) ([]backend.Record, error) {
	f.call("ListByOwner")
	return nil, nil
}

func (f *full) DeleteByOwner(context.Context, string) (int, error) {
	f.call("DeleteByOwner")
	return 0, nil
}

func (f *full) Rekey(context.Context, backend.Record, string) (backend.Record, error) {
	f.call("Rekey")
	return backend.Record{}, backend.ErrExists
}

func (f *full) LoadFresh(context.Context, string) (backend.Record, error) {
	f.call("LoadFresh")
	return backend.Record{}, fmt.Errorf("fake: %w", backend.ErrUnavailable)
}

func (f *full) Subscribe(context.Context, func(backend.Event)) error {
	f.call("Subscribe")
	return nil
}

// Methods of another signature shadow the capability methods of *full, so
// these types lack them.
type (
	noO    struct{ *full }
	noR    struct{ *full }
	noF    struct{ *full }
	noN    struct{ *full }
	noOR   struct{ *full }
	noOF   struct{ *full }
	noON   struct{ *full }
	noRF   struct{ *full }
	noRN   struct{ *full }
	noFN   struct{ *full }
	noORF  struct{ *full }
	noORN  struct{ *full }
	noOFN  struct{ *full }
	noRFN  struct{ *full }
	noORFN struct{ *full }
)

func (noO) ListByOwner()    {}
func (noR) Rekey()          {}
func (noF) LoadFresh()      {}
func (noN) Subscribe()      {}
func (noOR) ListByOwner()   {}
func (noOR) Rekey()         {}
func (noOF) ListByOwner()   {}
func (noOF) LoadFresh()     {}
func (noON) ListByOwner()   {}
func (noON) Subscribe()     {}
func (noRF) Rekey()         {}
func (noRF) LoadFresh()     {}
func (noRN) Rekey()         {}
func (noRN) Subscribe()     {}
func (noFN) LoadFresh()     {}
func (noFN) Subscribe()     {}
func (noORF) ListByOwner()  {}
func (noORF) Rekey()        {}
func (noORF) LoadFresh()    {}
func (noORN) ListByOwner()  {}
func (noORN) Rekey()        {}
func (noORN) Subscribe()    {}
func (noOFN) ListByOwner()  {}
func (noOFN) LoadFresh()    {}
func (noOFN) Subscribe()    {}
func (noRFN) Rekey()        {}
func (noRFN) LoadFresh()    {}
func (noRFN) Subscribe()    {}
func (noORFN) ListByOwner() {}
func (noORFN) Rekey()       {}
func (noORFN) LoadFresh()   {}
func (noORFN) Subscribe()   {}

func capabilities(b backend.Backend) string {
	s := ""
	if _, ok := b.(backend.OwnerIndex); ok {
		s += "O"
	}
	if _, ok := b.(backend.Rekeyer); ok {
		s += "R"
	}
	if _, ok := b.(backend.FreshLoader); ok {
		s += "F"
	}
	if _, ok := b.(backend.Notifier); ok {
		s += "N"
	}
	return s
}

// TestWrapperKeepsExactlyTheCapabilities wraps a backend of each of the
// sixteen combinations of capabilities: the wrapper has the same ones, each
// reaches the wrapped method, and each call but Subscribe makes one span.
func TestWrapperKeepsExactlyTheCapabilities(t *testing.T) {
	for _, mk := range []func(*full) backend.Backend{
		func(f *full) backend.Backend { return f },
		func(f *full) backend.Backend { return noO{f} },
		func(f *full) backend.Backend { return noR{f} },
		func(f *full) backend.Backend { return noF{f} },
		func(f *full) backend.Backend { return noN{f} },
		func(f *full) backend.Backend { return noOR{f} },
		func(f *full) backend.Backend { return noOF{f} },
		func(f *full) backend.Backend { return noON{f} },
		func(f *full) backend.Backend { return noRF{f} },
		func(f *full) backend.Backend { return noRN{f} },
		func(f *full) backend.Backend { return noFN{f} },
		func(f *full) backend.Backend { return noORF{f} },
		func(f *full) backend.Backend { return noORN{f} },
		func(f *full) backend.Backend { return noOFN{f} },
		func(f *full) backend.Backend { return noRFN{f} },
		func(f *full) backend.Backend { return noORFN{f} },
	} {
		f := &full{}
		inner := mk(f)
		want := capabilities(inner)
		t.Run("Has"+want, func(t *testing.T) {
			rec := tracetest.NewSpanRecorder()
			tp := sdktrace.NewTracerProvider(sdktrace.WithSpanProcessor(rec))
			w := otelsession.WrapBackend(inner, otelsession.WithTracerProvider(tp))
			ctx, _ := tp.Tracer("test").Start(context.Background(), "request") // never ended
			require.Equal(t, want, capabilities(w), "the wrapper of %T", inner)
			assert.Equal(t, inner, w.(interface{ Unwrap() backend.Backend }).Unwrap())

			calls := []string{"Create", "Load", "Update", "Touch", "Delete"}
			_, _ = w.Create(ctx, backend.Record{})
			_, _ = w.Load(ctx, "k")
			_, _ = w.Update(ctx, backend.Record{})
			_ = w.Touch(ctx, "k", time.Now())
			_ = w.Delete(ctx, "k")
			if o, ok := w.(backend.OwnerIndex); ok {
				_, _ = o.ListByOwner(ctx, "o")
				_, _ = o.DeleteByOwner(ctx, "o")
				calls = append(calls, "ListByOwner", "DeleteByOwner")
			}
			if r, ok := w.(backend.Rekeyer); ok {
				_, _ = r.Rekey(ctx, backend.Record{}, "n")
				calls = append(calls, "Rekey")
			}
			if fl, ok := w.(backend.FreshLoader); ok {
				_, _ = fl.LoadFresh(ctx, "k")
				calls = append(calls, "LoadFresh")
			}
			spans := len(calls)
			if n, ok := w.(backend.Notifier); ok {
				_ = n.Subscribe(ctx, func(backend.Event) {})
				calls = append(calls, "Subscribe")
			}
			require.NoError(t, w.Close())
			assert.Equal(t, append(calls, "Close"), f.calls)
			assert.Len(t, rec.Ended(), spans, "one span per call but Subscribe and Close")
		})
	}
	assert.Nil(t, otelsession.WrapBackend(nil))
}
