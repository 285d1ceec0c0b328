package sessionbench

import (
	"testing"

	"github.com/vmihailenco/msgpack/v5"
)

// BenchmarkDecodeRaw is msgpack.Unmarshal of the Profile alone: the floor
// under any Manager.Get with the msgpack codec, to compare Get against.
func BenchmarkDecodeRaw(b *testing.B) {
	p := NewProfile()
	data, _ := msgpack.Marshal(&p)
	b.Logf("%d bytes", len(data))
	b.ReportAllocs()
	for b.Loop() {
		var v Profile
		if err := msgpack.Unmarshal(data, &v); err != nil {
			b.Fatal(err)
		}
	}
}
