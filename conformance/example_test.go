package conformance_test

import (
	"bytes"
	"encoding/json"
	"errors"
	"testing"

	"github.com/sessionkit/sessionkit/backend"
	"github.com/sessionkit/sessionkit/codec"
	"github.com/sessionkit/sessionkit/conformance"
)

// myStore stands for the backend you are writing; openMyStore for its
// constructor.
type myStore struct{ backend.Backend }

func openMyStore(addr string) (*myStore, error) {
	return nil, errors.New("myStore is a stand-in for your backend")
}

// A backend's test file is mostly this: a factory that returns a fresh,
// empty backend and registers its cleanup, handed to Run. Select one case
// with go test -race -run 'TestConformance/Update/Concurrent'.
func ExampleRun() {
	testConformance := func(t *testing.T) { // func TestConformance(t *testing.T) in your _test.go file
		conformance.Run(t, func(tb testing.TB) backend.Backend {
			s, err := openMyStore("localhost:6379")
			if err != nil {
				tb.Fatal(err)
			}
			tb.Cleanup(func() { _ = s.Close() })
			return s
		})
	}
	_ = testConformance
}

// The same factory drives the benchmarks: go test -bench . -benchmem.
func ExampleBenchmark() {
	newStore := func(tb testing.TB) backend.Backend {
		s, err := openMyStore("localhost:6379")
		if err != nil {
			tb.Fatal(err)
		}
		tb.Cleanup(func() { _ = s.Close() })
		return s
	}
	benchmarkStore := func(b *testing.B) { // func BenchmarkStore(b *testing.B) in your _test.go file
		conformance.Benchmark(b, newStore)
	}
	_ = benchmarkStore
}

// indentedJSON is a custom codec: JSON, indented for readable store dumps.
type indentedJSON struct{}

func (indentedJSON) Name() string { return "json-indented" }

func (indentedJSON) Marshal(v any) ([]byte, error) { return json.MarshalIndent(v, "", "  ") }

func (indentedJSON) Unmarshal(data []byte, v any) error {
	dec := json.NewDecoder(bytes.NewReader(data))
	if err := dec.Decode(v); err != nil {
		return err
	}
	if dec.More() {
		return errors.New("json-indented: trailing data")
	}
	return nil
}

// A custom codec is proven the way the built-in ones are, before it is
// handed to session.WithCodec.
func ExampleRunCodec() {
	testCodec := func(t *testing.T) { // func TestCodec(t *testing.T) in your _test.go file
		conformance.RunCodec(t, indentedJSON{})
		conformance.RunCodec(t, codec.MsgPack()) // the built-in ones pass too
	}
	_ = testCodec
}

// TestExampleCodec runs the custom codec of ExampleRunCodec through
// RunCodec, so the example shows a codec that passes.
func TestExampleCodec(t *testing.T) {
	t.Parallel()
	conformance.RunCodec(t, indentedJSON{})
}
