package session_test

import (
	"context"
	"maps"
	"slices"
	"strconv"
	"sync"
	"sync/atomic"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/sessionkit/sessionkit/codec"
	"github.com/sessionkit/sessionkit/session"
)

// Basket implements session.Cloner with a value receiver.
type Basket struct {
	Owner string
	Items map[string]int
	Tags  []string
}

func (b Basket) Clone() Basket {
	b.Items = maps.Clone(b.Items)
	b.Tags = slices.Clone(b.Tags)
	return b
}

// PtrBasket implements session.Cloner with a pointer receiver.
type PtrBasket struct{ Tags []string }

func (b *PtrBasket) Clone() PtrBasket { return PtrBasket{Tags: slices.Clone(b.Tags)} }

// countingCodec counts Unmarshal calls.
type countingCodec struct {
	codec.Codec
	decodes *atomic.Int64
}

func (c countingCodec) Unmarshal(data []byte, v any) error {
	c.decodes.Add(1)
	return c.Codec.Unmarshal(data, v)
}

func TestDecodeCache(t *testing.T) {
	ctx := context.Background()
	var decodes atomic.Int64
	m := newManager[Basket](t, newMemory(t, nil), session.WithCodec(countingCodec{codec.MsgPack(), &decodes}))
	s, err := m.Create(ctx, "", Basket{Items: map[string]int{"apple": 1}, Tags: []string{"a"}})
	require.NoError(t, err)

	a, err := m.Get(ctx, s.ID)
	require.NoError(t, err)
	b, err := m.Get(ctx, s.ID)
	require.NoError(t, err)
	assert.EqualValues(t, 1, decodes.Load(), "an unchanged payload is decoded once")
	assert.Equal(t, a.Data, b.Data)

	// Each Get owns its data: changing one changes neither the cache nor
	// the others.
	a.Data.Items["apple"] = 99
	a.Data.Tags[0] = "changed"
	c, err := m.Get(ctx, s.ID)
	require.NoError(t, err)
	assert.Equal(t, 1, c.Data.Items["apple"])
	assert.Equal(t, "a", c.Data.Tags[0])
	assert.Equal(t, 1, b.Data.Items["apple"])

	// A changed payload is decoded again, also when another Manager (another
	// instance) wrote it.
	other := newManager[Basket](t, m.Backend())
	_, err = other.Update(ctx, s.ID, func(s *session.Session[Basket]) error { s.Data.Items["pear"] = 2; return nil })
	require.NoError(t, err)
	d, err := m.Get(ctx, s.ID)
	require.NoError(t, err)
	assert.Equal(t, 2, d.Data.Items["pear"])
	assert.EqualValues(t, 2, decodes.Load())

	require.NoError(t, m.Destroy(ctx, s.ID))
	_, err = m.Get(ctx, s.ID)
	assert.ErrorIs(t, err, session.ErrNotFound, "the cache never answers for a session the backend does not have")
}

func TestDecodeCacheOffAndPointerReceiver(t *testing.T) {
	ctx := context.Background()
	var decodes atomic.Int64
	off := newManager[Basket](t, newMemory(t, nil), session.WithDecodeCache(0), session.WithCodec(countingCodec{codec.MsgPack(), &decodes}))
	s, err := off.Create(ctx, "", Basket{})
	require.NoError(t, err)
	for range 3 {
		_, err := off.Get(ctx, s.ID)
		require.NoError(t, err)
	}
	assert.EqualValues(t, 3, decodes.Load())

	decodes.Store(0)
	ptr := newManager[PtrBasket](t, newMemory(t, nil), session.WithCodec(countingCodec{codec.MsgPack(), &decodes}))
	p, err := ptr.Create(ctx, "", PtrBasket{Tags: []string{"x"}})
	require.NoError(t, err)
	for range 3 {
		got, err := ptr.Get(ctx, p.ID)
		require.NoError(t, err)
		assert.Equal(t, []string{"x"}, got.Data.Tags)
		got.Data.Tags[0] = "mutated"
	}
	assert.EqualValues(t, 1, decodes.Load())

	_, err = session.NewManager[Basket](newMemory(t, nil), session.WithDecodeCache(-1))
	assert.Error(t, err)
}

func TestDecodeCacheBounded(t *testing.T) {
	ctx := context.Background()
	var decodes atomic.Int64
	m := newManager[Basket](t, newMemory(t, nil), session.WithDecodeCache(32), session.WithCodec(countingCodec{codec.MsgPack(), &decodes}))
	var ids []string
	for range 500 {
		s, err := m.Create(ctx, "", Basket{})
		require.NoError(t, err)
		ids = append(ids, s.ID)
	}
	for _, id := range ids {
		_, err := m.Get(ctx, id)
		require.NoError(t, err)
	}
	decodes.Store(0)
	for _, id := range ids {
		_, err := m.Get(ctx, id)
		require.NoError(t, err)
	}
	assert.Greater(t, decodes.Load(), int64(400), "a cache of 32 entries cannot hold 500 sessions")
}

// Raw is session data that an aliasing codec decodes without copying.
type Raw struct{ B []byte }

func (r Raw) Clone() Raw { return Raw{B: slices.Clone(r.B)} }

// aliasing is a codec whose Unmarshal keeps a reference to its input, as a
// zero-copy codec may.
type aliasing struct{}

func (aliasing) Name() string                  { return "aliasing" }
func (aliasing) Marshal(v any) ([]byte, error) { return slices.Clone(v.(*Raw).B), nil }
func (aliasing) Unmarshal(data []byte, v any) error {
	v.(*Raw).B = data
	return nil
}

// TestDecodedNeverAliasesTheStore: what a codec decodes from must be bytes
// the caller alone holds, or a caller changing its data would change the
// stored session or the decode cache.
func TestDecodedNeverAliasesTheStore(t *testing.T) {
	ctx := context.Background()
	mem := newMemory(t, nil)
	m := newManager[Raw](t, mem, session.WithCodec(aliasing{}))
	s, err := m.Create(ctx, "", Raw{B: []byte("stored")})
	require.NoError(t, err)
	for range 2 { // a decode, then a hit of the decode cache
		got, err := m.Get(ctx, s.ID)
		require.NoError(t, err)
		require.Equal(t, "stored", string(got.Data.B))
		copy(got.Data.B, "XXXXXX")
	}
	rec, err := mem.Load(ctx, s.Handle())
	require.NoError(t, err)
	assert.Contains(t, string(rec.Payload), "stored", "the stored payload changed under a caller's write")
}

// TestAliasingCodecUpdates: a codec that aliases its input must not make
// the decode cache serve stale data after the caller changes what it got.
func TestAliasingCodecUpdates(t *testing.T) {
	ctx := context.Background()
	m := newManager[Raw](t, newMemory(t, nil), session.WithCodec(aliasing{}))
	s, err := m.Create(ctx, "", Raw{B: []byte("aaaa")})
	require.NoError(t, err)
	_, err = m.Update(ctx, s.ID, func(s *session.Session[Raw]) error { s.Data.B[0] = 'b'; return nil })
	require.NoError(t, err)
	_, err = m.Update(ctx, s.ID, func(s *session.Session[Raw]) error { s.Data.B[1] = 'c'; return nil })
	require.NoError(t, err)
	got, err := m.Get(ctx, s.ID)
	require.NoError(t, err)
	assert.Equal(t, "bcaa", string(got.Data.B))
}

// TestDecodeCacheConcurrent: readers on several Managers' decode caches,
// sharing one small table, race writers of the same sessions. Every Get
// returns a session as one write left it (the map and the slice agree),
// never older than what that reader saw before. Run with -race.
func TestDecodeCacheConcurrent(t *testing.T) {
	ctx := context.Background()
	store := newMemory(t, nil)
	m := newManager[Basket](t, store, session.WithDecodeCache(4))
	var ids []string
	for range 8 {
		s, err := m.Create(ctx, "", Basket{Items: map[string]int{"n": 0}, Tags: []string{"0"}})
		require.NoError(t, err)
		ids = append(ids, s.ID)
	}
	const writes = 50
	var wg sync.WaitGroup
	for w := range 2 {
		writer := newManager[Basket](t, store)
		wg.Go(func() {
			for i := range writes {
				id := ids[(w+i)%len(ids)]
				_, err := writer.Update(ctx, id, func(s *session.Session[Basket]) error {
					n := s.Data.Items["n"] + 1
					s.Data.Items["n"], s.Data.Tags[0] = n, strconv.Itoa(n)
					return nil
				})
				assert.NoError(t, err)
			}
		})
	}
	for range 4 {
		wg.Go(func() {
			seen := make(map[string]int)
			for i := range 20 * writes {
				id := ids[i%len(ids)]
				s, err := m.Get(ctx, id)
				if !assert.NoError(t, err) {
					return
				}
				n := s.Data.Items["n"]
				assert.Equal(t, strconv.Itoa(n), s.Data.Tags[0], "a Get mixed two versions")
				assert.GreaterOrEqual(t, n, seen[id], "a Get went back in time")
				seen[id] = n
				s.Data.Items["n"], s.Data.Tags[0] = -1, "mine" // the caller owns what it got
			}
		})
	}
	wg.Wait()
	fresh := newManager[Basket](t, store, session.WithDecodeCache(0))
	for _, id := range ids {
		want, err := fresh.Get(ctx, id)
		require.NoError(t, err)
		got, err := m.Get(ctx, id)
		require.NoError(t, err)
		assert.Equal(t, want.Data, got.Data, "after the writes, the cache serves an old version")
	}
}

// Plain has no Clone method: the Manager copies it by reflection.
type Plain struct {
	Items map[string]int
	Tags  []string
}

// Dynamic holds an interface, which the Manager cannot copy.
type Dynamic struct{ V any }

func TestDecodeCachePlainData(t *testing.T) {
	ctx := context.Background()
	var decodes atomic.Int64
	counting := session.WithCodec(countingCodec{codec.MsgPack(), &decodes})
	m := newManager[Plain](t, newMemory(t, nil), counting)
	s, err := m.Create(ctx, "", Plain{Items: map[string]int{"apple": 1}, Tags: []string{"a"}})
	require.NoError(t, err)
	for range 3 {
		got, err := m.Get(ctx, s.ID)
		require.NoError(t, err)
		require.Equal(t, Plain{Items: map[string]int{"apple": 1}, Tags: []string{"a"}}, got.Data)
		got.Data.Items["apple"], got.Data.Tags[0] = 99, "changed" // the caller owns what it got
	}
	assert.EqualValues(t, 1, decodes.Load(), "an unchanged payload of plain data is decoded once")

	decodes.Store(0)
	d := newManager[Dynamic](t, newMemory(t, nil), counting)
	ds, err := d.Create(ctx, "", Dynamic{V: "x"})
	require.NoError(t, err)
	for range 3 {
		_, err := d.Get(ctx, ds.ID)
		require.NoError(t, err)
	}
	assert.EqualValues(t, 3, decodes.Load(), "a type holding an interface is decoded on every Get")
}
