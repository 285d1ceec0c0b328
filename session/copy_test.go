package session

import (
	"reflect"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

type plainInner struct {
	Tags  []string
	Score *float64
}

type plainAll struct {
	B      bool
	I      int64
	U      uint8
	F      float64
	C      complex128
	S      string
	At     time.Time
	Bytes  []byte
	Arr    [2][]int
	Inner  plainInner
	PInner *plainInner
	Nested [][]string
	Counts map[string]int
	Deep   map[string][]plainInner
	Keyed  map[time.Time]string
	Nil    []string
	NilMap map[string]int
	NilPtr *int
	Empty  []string
	hidden int // unexported, but assignment copies it
}

type (
	withAny        struct{ V any }
	withFunc       struct{ F func() }
	withChan       struct{ C chan int }
	hiddenSlice    struct{ s []string }
	hiddenPtrInArr struct{ a [1]*int }
	recursive      struct{ Children []recursive }
	recursivePtr   struct{ Next *recursivePtr }
	ptrKey         struct{ M map[*int]int }
	sliceKeyish    struct{ M map[[1]string]int }
	scalarsOnly    struct {
		A int
		b string
	}
)

func newPlainAll() plainAll {
	f := 1.5
	return plainAll{
		B: true, I: -3, U: 7, F: 2.5, C: 1 + 2i, S: "s",
		At:     time.Date(2026, 11, 30, 1, 2, 3, 4, time.UTC),
		Bytes:  []byte("bytes"),
		Arr:    [2][]int{{1, 2}, {3}},
		Inner:  plainInner{Tags: []string{"a", "b"}, Score: &f},
		PInner: &plainInner{Tags: []string{"c"}},
		Nested: [][]string{{"x"}, {"y", "z"}},
		Counts: map[string]int{"apple": 1, "pear": 2},
		Deep:   map[string][]plainInner{"k": {{Tags: []string{"d"}}}},
		Keyed:  map[time.Time]string{time.Unix(1, 0).UTC(): "one"},
		Empty:  []string{},
		hidden: 42,
	}
}

// scribble changes every value reachable from v through slices, maps,
// pointers and exported fields: after it, a copy that shared any mutable
// memory with an original has changed the original.
func scribble(v reflect.Value) {
	switch v.Kind() {
	case reflect.Bool:
		v.SetBool(!v.Bool())
	case reflect.Int, reflect.Int64:
		v.SetInt(v.Int() + 100)
	case reflect.Uint8:
		v.SetUint(v.Uint() + 100)
	case reflect.Float64:
		v.SetFloat(v.Float() + 100)
	case reflect.String:
		v.SetString(v.String() + "!")
	case reflect.Pointer:
		if !v.IsNil() {
			scribble(v.Elem())
		}
	case reflect.Slice, reflect.Array:
		for i := range v.Len() {
			scribble(v.Index(i))
		}
	case reflect.Map:
		for _, k := range v.MapKeys() {
			e := reflect.New(v.Type().Elem()).Elem()
			e.Set(v.MapIndex(k))
			scribble(e)
			v.SetMapIndex(k, e)
		}
	case reflect.Struct:
		if v.Type() == timeType {
			return
		}
		for i := range v.NumField() {
			if v.Type().Field(i).IsExported() {
				scribble(v.Field(i))
			}
		}
	}
}

func TestCopyFuncPlainData(t *testing.T) {
	orig := newPlainAll()
	cp := copyFunc[plainAll]()
	require.NotNil(t, cp, "plainAll is plain data")
	c := cp(&orig)
	require.Equal(t, newPlainAll(), c, "a copy equals the original")
	assert.Nil(t, c.Nil)
	assert.Nil(t, c.NilMap)
	assert.Nil(t, c.NilPtr)
	assert.NotNil(t, c.Empty)
	scribble(reflect.ValueOf(&c).Elem())
	assert.Equal(t, newPlainAll(), orig, "changing the copy changed the original")

	// And the other way round: the copy does not follow the original.
	orig = newPlainAll()
	c = cp(&orig)
	scribble(reflect.ValueOf(&orig).Elem())
	assert.Equal(t, newPlainAll(), c, "changing the original changed the copy")
}

// TestCopyFuncAppend: copies never share room to append into, also when
// the original is empty with spare capacity.
func TestCopyFuncAppend(t *testing.T) {
	cp := copyFunc[plainInner]()
	for _, tags := range [][]string{make([]string, 0, 4), make([]string, 1, 4)} {
		orig := plainInner{Tags: tags}
		a, b := cp(&orig), cp(&orig)
		a.Tags = append(a.Tags, "a")
		b.Tags = append(b.Tags, "b")
		assert.Equal(t, "a", a.Tags[len(a.Tags)-1], "an append to one copy changed another")
		assert.Len(t, orig.Tags, len(tags))
		assert.NotNil(t, a.Tags)
	}
	empty := plainInner{Tags: []string{}}
	assert.NotNil(t, cp(&empty).Tags, "an empty slice became nil")
}

func TestCopyFuncRefuses(t *testing.T) {
	for name, cp := range map[string]any{
		"interface":                 copyFunc[withAny](),
		"func":                      copyFunc[withFunc](),
		"chan":                      copyFunc[withChan](),
		"unexported slice":          copyFunc[hiddenSlice](),
		"unexported pointer array":  copyFunc[hiddenPtrInArr](),
		"recursive through a slice": copyFunc[recursive](),
		"recursive through a ptr":   copyFunc[recursivePtr](),
		"pointer map key":           copyFunc[ptrKey](),
		"map of any":                copyFunc[map[string]any](),
	} {
		assert.True(t, reflect.ValueOf(cp).IsNil(), "%s: copyFunc is not nil", name)
	}
	for name, cp := range map[string]any{
		"array map key":                copyFunc[sliceKeyish](),
		"unexported scalar":            copyFunc[scalarsOnly](),
		"a bare map":                   copyFunc[map[string][]int](),
		"a bare slice of time":         copyFunc[[]time.Time](),
		"a type used twice, not cycle": copyFunc[struct{ A, B plainInner }](),
	} {
		assert.False(t, reflect.ValueOf(cp).IsNil(), "%s: copyFunc is nil", name)
	}
	v := scalarsOnly{A: 1, b: "b"}
	assert.Equal(t, v, copyFunc[scalarsOnly]()(&v))
	_, _ = hiddenSlice{}.s, hiddenPtrInArr{}.a // refused for their shape alone
}

func BenchmarkCopyFunc(b *testing.B) {
	v := newPlainAll()
	cp := copyFunc[plainAll]()
	b.ReportAllocs()
	for b.Loop() {
		_ = cp(&v)
	}
}
