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
