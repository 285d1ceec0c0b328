package session

import (
	"fmt"

	"github.com/sessionkit/sessionkit/codec"
)

// A stored payload is
//
//	0x01 | len(codec name) | codec name | codec output
//
// so a Manager can read sessions that another codec wrote.
const payloadFormat = 0x01

func (m *Manager[T]) encode(data *T) ([]byte, error) {
	body, err := m.cf.codec.Marshal(data)
	if err != nil {
		return nil, fmt.Errorf("session: encode: %w", err)
	}
	name := m.cf.codec.Name()
	size := 2 + len(name) + len(body)
	if size > m.cf.maxPayload {
		return nil, fmt.Errorf("%w: %d bytes encoded, the limit is %d", ErrTooLarge, size, m.cf.maxPayload)
	}
	p := make([]byte, 0, size)
	p = append(p, payloadFormat, byte(len(name)))
	p = append(p, name...)
	return append(p, body...), nil
}

func (m *Manager[T]) decode(p []byte, data *T) (err error) {
	defer func() {
		if r := recover(); r != nil { // a custom codec that breaks its contract
			err = fmt.Errorf("%w: codec panicked: %v", ErrCorrupt, r)
		}
	}()
	if len(p) < 2 || p[0] != payloadFormat || len(p) < 2+int(p[1]) {
		return fmt.Errorf("%w: bad header", ErrCorrupt)
	}
	name, body := p[2:2+int(p[1])], p[2+int(p[1]):]
	c := m.codecFor(name)
	if c == nil {
		return fmt.Errorf("%w: unknown codec %q", ErrCorrupt, name)
	}
	if err := c.Unmarshal(body, data); err != nil {
		return fmt.Errorf("%w: %w", ErrCorrupt, err)
	}
	return nil
}

func (m *Manager[T]) codecFor(name []byte) codec.Codec {
	if string(name) == m.cf.codec.Name() {
		return m.cf.codec
	}
	for _, c := range m.cf.decoders {
		if string(name) == c.Name() {
			return c
		}
	}
	return codec.Builtin(string(name))
}

// payloadCodec returns the codec name p's header gives, or "" if p has no
// valid header.
func payloadCodec(p []byte) string {
	if len(p) < 2 || p[0] != payloadFormat || len(p) < 2+int(p[1]) {
		return ""
	}
	return string(p[2 : 2+int(p[1])])
}
