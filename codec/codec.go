// Package codec turns typed session data into bytes and back.
//
// A Codec is what session.Manager uses to store a session's Data. MsgPack is
// the default; JSON and Gob are built in; any other encoding (CBOR,
// protobuf, ...) can be plugged in by implementing Codec and proven with
// conformance.RunCodec.
//
// The Manager records the codec's Name in every payload it writes, so an
// application that switches codecs keeps reading the sessions written by the
// previous one, as long as that codec is built in or passed to the Manager
// too.
//
// # Errors
//
// Unmarshal of corrupt or truncated data returns an error and never panics.
package codec

import (
	"bytes"
	"encoding/gob"
	"encoding/json"
	"fmt"

	"github.com/vmihailenco/msgpack/v5"
)

// Codec encodes and decodes session data. Implementations must be safe for
// concurrent use.
type Codec interface {
	// Name identifies the encoding in stored payloads. It must be non-empty,
	// at most 255 bytes, and never change for a given encoding.
	Name() string
	// Marshal encodes v. The returned slice belongs to the caller.
	Marshal(v any) ([]byte, error)
	// Unmarshal decodes data into v, a non-nil pointer. It must return an
	// error, and not panic, for data that is corrupt or truncated.
	Unmarshal(data []byte, v any) error
}

// MsgPack returns the MessagePack codec (github.com/vmihailenco/msgpack/v5),
// the default: compact and fast. Struct fields use their Go names, or the
// `msgpack` struct tag.
func MsgPack() Codec { return msgpackCodec{} }

// JSON returns the encoding/json codec: readable in a store dump, larger
// and slower than MsgPack.
func JSON() Codec { return jsonCodec{} }

// Gob returns the encoding/gob codec. Gob does not keep nil and empty
// slices or maps apart, and omits zero-valued fields.
func Gob() Codec { return gobCodec{} }

// Builtin returns the built-in codec with the given name, or nil.
func Builtin(name string) Codec {
	switch name {
	case "msgpack":
		return msgpackCodec{}
	case "json":
		return jsonCodec{}
	case "gob":
		return gobCodec{}
	}
	return nil
}

type msgpackCodec struct{}

func (msgpackCodec) Name() string { return "msgpack" }

func (msgpackCodec) Marshal(v any) ([]byte, error) {
	b, err := msgpack.Marshal(v)
	if err != nil {
		return nil, fmt.Errorf("codec: msgpack: %w", err)
	}
	return b, nil
}

func (msgpackCodec) Unmarshal(data []byte, v any) (err error) {
	defer recoverInto(&err, "msgpack")
	dec := msgpack.GetDecoder()
	defer msgpack.PutDecoder(dec)
	r := bytes.NewReader(data) // an io.ByteScanner: the decoder reads it unbuffered
	dec.Reset(r)
	if err := dec.Decode(v); err != nil {
		return fmt.Errorf("codec: msgpack: %w", err)
	}
	if r.Len() > 0 {
		return fmt.Errorf("codec: msgpack: %d trailing bytes", r.Len())
	}
	return nil
}

type jsonCodec struct{}

func (jsonCodec) Name() string { return "json" }

func (jsonCodec) Marshal(v any) ([]byte, error) {
	b, err := json.Marshal(v)
	if err != nil {
		return nil, fmt.Errorf("codec: json: %w", err)
	}
	return b, nil
}

func (jsonCodec) Unmarshal(data []byte, v any) error {
	if err := json.Unmarshal(data, v); err != nil {
		return fmt.Errorf("codec: json: %w", err)
	}
	return nil
}

type gobCodec struct{}

func (gobCodec) Name() string { return "gob" }

func (gobCodec) Marshal(v any) ([]byte, error) {
	var buf bytes.Buffer
	if err := gob.NewEncoder(&buf).Encode(v); err != nil {
		return nil, fmt.Errorf("codec: gob: %w", err)
	}
	return buf.Bytes(), nil
}

func (gobCodec) Unmarshal(data []byte, v any) (err error) {
	defer recoverInto(&err, "gob")
	r := bytes.NewReader(data)
	if err := gob.NewDecoder(r).Decode(v); err != nil {
		return fmt.Errorf("codec: gob: %w", err)
	}
	if r.Len() > 0 {
		return fmt.Errorf("codec: gob: %d trailing bytes", r.Len())
	}
	return nil
}

// recoverInto turns a panic inside a third-party decoder into an error, so
// that hostile stored bytes can never take the process down.
func recoverInto(err *error, name string) {
	if r := recover(); r != nil {
		*err = fmt.Errorf("codec: %s: malformed input: %v", name, r)
	}
}
