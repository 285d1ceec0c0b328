package conformance

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"testing"
	"time"

	"github.com/sessionkit/sessionkit/backend"
)

// benchPool is how many records the Load and Mix90_10 benchmarks spread
// their operations over, and how many records each Create worker keeps.
const benchPool = 1024

// Benchmark measures the backends newBackend returns with the workload
// session.Manager puts on them: sub-benchmarks Load, Create, Update and
// Mix90_10 (90 % Load, 10 % Load-then-Update), each Serial (one goroutine)
// and Parallel (b.RunParallel, GOMAXPROCS goroutines), with a 250-byte
// payload and allocations reported. Load and Mix90_10 spread their
// operations over 1,024 records. In Create, each operation creates a new
// key and, to keep the store bounded, deletes the key created 1,024
// operations earlier: it measures one Create plus one Delete. Update
// writes a record of its own per goroutine, so it measures the write path,
// not contention.
//
// Call it from a benchmark of the backend's package:
//
//	func BenchmarkBackend(b *testing.B) { conformance.Benchmark(b, newBackend) }
func Benchmark(b *testing.B, newBackend Factory) {
	for _, w := range []struct {
		name   string
		worker func(b *testing.B, be backend.Backend, pool []string) benchWorker
		pool   bool
	}{
		{"Load", newLoadWorker, true},
		{"Create", newCreateWorker, false},
		{"Update", newUpdateWorker, false},
		{"Mix90_10", newMixWorker, true},
	} {
		b.Run(w.name, func(b *testing.B) {
			b.Run("Serial", func(b *testing.B) {
				be, pool := benchSetup(b, newBackend, w.pool)
				op := w.worker(b, be, pool)
				if op == nil {
					b.FailNow()
				}
				b.ReportAllocs()
				for b.Loop() {
					if err := op(); err != nil {
						b.Fatal(err)
					}
				}
			})
			b.Run("Parallel", func(b *testing.B) {
				be, pool := benchSetup(b, newBackend, w.pool)
				b.ReportAllocs()
				b.ResetTimer()
				b.RunParallel(func(pb *testing.PB) {
					op := w.worker(b, be, pool)
					if op == nil {
						return
					}
					for pb.Next() {
						if err := op(); err != nil {
							b.Error(err)
							return
						}
					}
				})
			})
		})
	}
}

// benchWorker performs one operation of a workload. Each goroutine has its
// own.
type benchWorker func() error

// benchPayload is a 250-byte payload, about what a small session encodes to.
var benchPayload = func() []byte {
	p := make([]byte, 250)
	for i := range p {
		p[i] = byte('a' + i%26)
	}
	return p
}()

func benchRecord(key string) backend.Record {
	rec := newRecord(key, "", benchPayload)
	rec.Owner = "bench-owner"
	return rec
}

// benchSetup returns a fresh backend and, if pool, the keys of benchPool
// records stored in it.
func benchSetup(b *testing.B, newBackend Factory, pool bool) (backend.Backend, []string) {
	b.Helper()
	be := newBackend(b)
	if !pool {
		return be, nil
	}
	ctx := context.Background()
	keys := make([]string, benchPool)
	for i := range keys {
		keys[i] = newKey("bench")
		if _, err := be.Create(ctx, benchRecord(keys[i])); err != nil {
			b.Fatalf("Create: %v", err)
		}
	}
	return be, keys
}

// benchRand is a small xorshift generator, one per worker, so that key
// choice costs no lock and no allocation.
type benchRand uint64

func (r *benchRand) next() uint64 {
	x := uint64(*r)
	x ^= x << 13
	x ^= x >> 7
	x ^= x << 17
	*r = benchRand(x)
	return x
}

func newBenchRand() *benchRand {
	seed, _ := strconv.ParseUint(uniq(), 16, 64)
	r := benchRand(seed | 1)
	return &r
}

func newLoadWorker(_ *testing.B, be backend.Backend, pool []string) benchWorker {
	ctx, r := context.Background(), newBenchRand()
	return func() error {
		_, err := be.Load(ctx, pool[r.next()%benchPool])
		return err
	}
}

func newCreateWorker(_ *testing.B, be backend.Backend, _ []string) benchWorker {
	ctx, prefix := context.Background(), newKey("bench-create")
	ring := make([]string, benchPool)
	for i := range ring {
		ring[i] = prefix + ":" + strconv.Itoa(i)
	}
	rec := benchRecord("")
	n := 0
	return func() error {
		slot := n % benchPool
		if n >= benchPool {
			if err := be.Delete(ctx, ring[slot]); err != nil {
				return fmt.Errorf("Delete: %w", err)
			}
		}
		n++
		rec.Key = ring[slot]
		_, err := be.Create(ctx, rec)
		return err
	}
}

func newUpdateWorker(b *testing.B, be backend.Backend, _ []string) benchWorker {
	ctx := context.Background()
	rec, err := be.Create(ctx, benchRecord(newKey("bench-update")))
	if err != nil {
		b.Errorf("Create: %v", err)
		return nil
	}
	rec.Payload = benchPayload
	return func() error {
		stored, err := be.Update(ctx, rec)
		rec.Version = stored.Version
		return err
	}
}

func newMixWorker(_ *testing.B, be backend.Backend, pool []string) benchWorker {
	ctx, r := context.Background(), newBenchRand()
	n := 0
	return func() error {
		n++
		key := pool[r.next()%benchPool]
		rec, err := be.Load(ctx, key)
		if err != nil || n%10 != 0 {
			return err
		}
		rec.Payload = benchPayload
		rec.IdleDeadline = time.Now().Add(time.Hour)
		if _, err := be.Update(ctx, rec); err != nil && !errors.Is(err, backend.ErrConflict) {
			return err
		}
		return nil
	}
}
