package session

import (
	"reflect"
	"time"
)

// copyFunc returns a function that deep-copies a T made of plain data, for
// the decode cache of types without a Clone method, or nil if T holds
// anything it cannot copy safely.
//
// Plain data is booleans, numbers, strings, time.Time, and structs (whose
// fields that need copying are exported), arrays, slices, maps (with keys
// that need no copying) and pointers of plain data. Interfaces, functions,
// channels, unsafe pointers, unexported slices, maps or pointers, and
// recursive types are not plain: such a T is decoded on every Get. A copy
// shares no mutable memory with the original and equals it
// (reflect.DeepEqual), nil slices, maps and pointers staying nil; the
// values the codecs decode hold no pointers shared between two places, so
// a copy equals a fresh decoding.
func copyFunc[T any]() func(*T) T {
	cp, ok := copyPlan(reflect.TypeFor[T](), map[reflect.Type]bool{})
	if !ok {
		return nil
	}
	if cp == nil { // assignment copies it
		return func(v *T) T { return *v }
	}
	return func(v *T) T {
		out := *v
		cp(reflect.ValueOf(&out).Elem(), reflect.ValueOf(v).Elem())
		return out
	}
}

// A copier replaces the mutable parts of dst, a settable shallow copy of
// src, with copies.
type copier func(dst, src reflect.Value)

var timeType = reflect.TypeFor[time.Time]()

// copyPlan returns the copier of t: nil if assignment copies t, ok false if
// t is not plain data. onPath holds the types being planned, to refuse
// recursive types.
func copyPlan(t reflect.Type, onPath map[reflect.Type]bool) (cp copier, ok bool) {
	if t == timeType { // its *Location is never changed
		return nil, true
	}
	switch t.Kind() {
	case reflect.Bool, reflect.Int, reflect.Int8, reflect.Int16, reflect.Int32, reflect.Int64,
		reflect.Uint, reflect.Uint8, reflect.Uint16, reflect.Uint32, reflect.Uint64, reflect.Uintptr,
		reflect.Float32, reflect.Float64, reflect.Complex64, reflect.Complex128, reflect.String:
		return nil, true
	case reflect.Array, reflect.Slice, reflect.Map, reflect.Pointer, reflect.Struct:
	default:
		return nil, false
	}
	if onPath[t] {
		return nil, false
	}
	onPath[t] = true
	defer delete(onPath, t)
	switch t.Kind() {
	case reflect.Struct:
		return structPlan(t, onPath)
	case reflect.Map:
		return mapPlan(t, onPath)
	}
	elem, ok := copyPlan(t.Elem(), onPath)
	if !ok {
		return nil, false
	}
	switch t.Kind() {
	case reflect.Array:
		if elem == nil {
			return nil, true
		}
		return func(dst, src reflect.Value) {
			for i := range t.Len() {
				elem(dst.Index(i), src.Index(i))
			}
		}, true
	case reflect.Slice:
		return func(dst, src reflect.Value) {
			n := src.Len()
			if n == 0 { // nil stays nil, empty stays empty
				if src.Cap() > 0 { // but must not share room to append into
					dst.Set(reflect.MakeSlice(t, 0, 0))
				}
				return
			}
			// Grow a nil dst in place: MakeSlice would box a header too.
			dst.SetZero()
			dst.Grow(n)
			dst.SetLen(n)
			reflect.Copy(dst, src)
			if elem != nil {
				for i := range n {
					elem(dst.Index(i), src.Index(i))
				}
			}
		}, true
	}
	// reflect.Pointer
	return func(dst, src reflect.Value) {
		if src.IsNil() {
			return
		}
		p := reflect.New(t.Elem())
		p.Elem().Set(src.Elem())
		if elem != nil {
			elem(p.Elem(), src.Elem())
		}
		dst.Set(p)
	}, true
}

func structPlan(t reflect.Type, onPath map[reflect.Type]bool) (copier, bool) {
	type field struct {
		i  int
		cp copier
	}
	var fields []field
	for i := range t.NumField() {
		f := t.Field(i)
		cp, ok := copyPlan(f.Type, onPath)
		if !ok || cp != nil && !f.IsExported() { // reflect cannot set it
			return nil, false
		}
		if cp != nil {
			fields = append(fields, field{i, cp})
		}
	}
	if len(fields) == 0 {
		return nil, true
	}
	return func(dst, src reflect.Value) {
		for _, f := range fields {
			f.cp(dst.Field(f.i), src.Field(f.i))
		}
	}, true
}

func mapPlan(t reflect.Type, onPath map[reflect.Type]bool) (copier, bool) {
	key, ok := copyPlan(t.Key(), onPath)
	if !ok || key != nil {
		return nil, false
	}
	elem, ok := copyPlan(t.Elem(), onPath)
	if !ok {
		return nil, false
	}
	return func(dst, src reflect.Value) {
		if src.IsNil() {
			return
		}
		m := reflect.MakeMapWithSize(t, src.Len())
		// One key and one value for all entries: MapIter.Key and Value
		// would allocate a copy of each.
		k, v := reflect.New(t.Key()).Elem(), reflect.New(t.Elem()).Elem()
		var orig reflect.Value // the source value, when it needs copying
		if elem != nil {
			orig = reflect.New(t.Elem()).Elem()
		}
		var it reflect.MapIter // on the stack: MapRange would allocate it
		for it.Reset(src); it.Next(); {
			k.SetIterKey(&it)
			v.SetIterValue(&it)
			if elem != nil {
				orig.Set(v)
				elem(v, orig)
			}
			m.SetMapIndex(k, v)
		}
		dst.Set(m)
	}, true
}
