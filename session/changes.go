package session

import (
	"bytes"
	"fmt"
	"reflect"
	"sync"

	"github.com/sessionkit/sessionkit/codec"
)

// EncodeData returns data encoded with the Manager's codec, as Save would
// store it but without the size limit, so that EqualData can tell later
// whether data changed. It is how httpsession stores the changes a handler
// makes directly to a session's Data. The returned slice belongs to the
// caller. It returns an error only if the codec cannot encode data.
func (m *Manager[T]) EncodeData(data *T) ([]byte, error) {
	b, err := m.cf.codec.Marshal(data)
	if err != nil {
		return nil, fmt.Errorf("session: encode: %w", err)
	}
	return b, nil
}

// EqualData reports whether a and b, two results of EncodeData, hold the
// same data, so that storing one in place of the other would change
// nothing. Equal bytes are equal data. Different bytes may be too, since
// codecs such as MsgPack and Gob write map entries in random order: unless
// the codec is a built-in one and T holds no map, both are then decoded
// and compared with reflect.DeepEqual, which costs two decodings. Bytes
// that do not decode are not equal to anything.
func (m *Manager[T]) EqualData(a, b []byte) bool {
	if bytes.Equal(a, b) {
		return true
	}
	if codec.Builtin(m.cf.codec.Name()) == m.cf.codec && !holdsMap(reflect.TypeFor[T]()) {
		return false // the built-in codecs write anything but maps in one way
	}
	var x, y T
	if m.cf.codec.Unmarshal(a, &x) != nil || m.cf.codec.Unmarshal(b, &y) != nil {
		return false
	}
	return reflect.DeepEqual(x, y)
}

// mapHolders caches holdsMap by type.
var mapHolders sync.Map // reflect.Type → bool

// holdsMap reports whether a value of type t can hold a map.
func holdsMap(t reflect.Type) bool {
	if v, ok := mapHolders.Load(t); ok {
		return v.(bool)
	}
	v := typeHoldsMap(t, map[reflect.Type]bool{})
	mapHolders.Store(t, v)
	return v
}

func typeHoldsMap(t reflect.Type, seen map[reflect.Type]bool) bool {
	if seen[t] {
		return false // a recursive type: its other paths decide
	}
	seen[t] = true
	switch t.Kind() {
	case reflect.Map, reflect.Interface: // an interface may hold a map
		return true
	case reflect.Pointer, reflect.Slice, reflect.Array:
		return typeHoldsMap(t.Elem(), seen)
	case reflect.Struct:
		for i := range t.NumField() {
			if typeHoldsMap(t.Field(i).Type, seen) {
				return true
			}
		}
	}
	return false
}
