package session_test

import (
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	memorybackend "github.com/sessionkit/sessionkit/backend_memory"
	"github.com/sessionkit/sessionkit/codec"
	"github.com/sessionkit/sessionkit/session"
)

type changed struct {
	N     int
	Items map[string]int
	Tags  []string
}

func TestEqualData(t *testing.T) {
	for _, c := range []codec.Codec{codec.MsgPack(), codec.JSON(), codec.Gob()} {
		t.Run(c.Name(), func(t *testing.T) {
			store := memorybackend.New()
			defer store.Close()
			m, err := session.NewManager[changed](store, session.WithCodec(c))
			require.NoError(t, err)
			enc := func(v changed) []byte {
				t.Helper()
				b, err := m.EncodeData(&v)
				require.NoError(t, err)
				return b
			}
			items := map[string]int{}
			for i := range 32 { // enough entries that random map order shows
				items[string(rune('a'+i))] = i
			}
			base := enc(changed{N: 1, Items: items, Tags: []string{"x"}})
			for range 20 {
				assert.True(t, m.EqualData(base, enc(changed{N: 1, Items: items, Tags: []string{"x"}})), "the same data, whatever the map order")
			}
			more := map[string]int{"zz": 1}
			for k, v := range items {
				more[k] = v
			}
			for name, v := range map[string]changed{
				"Number":     {N: 2, Items: items, Tags: []string{"x"}},
				"MapEntry":   {N: 1, Items: more, Tags: []string{"x"}},
				"SliceValue": {N: 1, Items: items, Tags: []string{"y"}},
			} {
				assert.False(t, m.EqualData(base, enc(v)), name)
			}
			assert.False(t, m.EqualData(base, []byte("garbage")), "bytes that do not decode")
		})
	}
}

// TestEqualDataFastWithoutMaps checks that different bytes of a type
// without maps are taken as a change without decoding them (no
// allocation), and that a type with a map still goes the long way.
func TestEqualDataFastWithoutMaps(t *testing.T) {
	type flat struct {
		N    int
		Tags []string
	}
	store := memorybackend.New()
	defer store.Close()
	m, err := session.NewManager[flat](store)
	require.NoError(t, err)
	a, err := m.EncodeData(&flat{N: 1, Tags: []string{"x"}})
	require.NoError(t, err)
	b, err := m.EncodeData(&flat{N: 2, Tags: []string{"x"}})
	require.NoError(t, err)
	assert.False(t, m.EqualData(a, b))
	assert.Zero(t, testing.AllocsPerRun(100, func() { m.EqualData(a, b) }), "no decoding")

	mm, err := session.NewManager[changed](store)
	require.NoError(t, err)
	c, err := mm.EncodeData(&changed{N: 1})
	require.NoError(t, err)
	d, err := mm.EncodeData(&changed{N: 2})
	require.NoError(t, err)
	assert.NotZero(t, testing.AllocsPerRun(100, func() { mm.EqualData(c, d) }), "a map: decoded")
}
