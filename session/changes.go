package session

import (
	"bytes"
	"fmt"
	"reflect"
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
// codecs such as MsgPack and Gob write map entries in random order: then
// both are decoded and compared with reflect.DeepEqual, which costs two
// decodings. Bytes that do not decode are not equal to anything.
func (m *Manager[T]) EqualData(a, b []byte) bool {
	if bytes.Equal(a, b) {
		return true
	}
	var x, y T
	if m.cf.codec.Unmarshal(a, &x) != nil || m.cf.codec.Unmarshal(b, &y) != nil {
		return false
	}
	return reflect.DeepEqual(x, y)
}
