package codec_test

import (
	"testing"
	"time"

	"github.com/sessionkit/sessionkit/codec"
)

// fuzzData has the field types sessions carry.
type fuzzData struct {
	Name  string
	N     int64
	U     uint64
	F     float64
	OK    bool
	At    time.Time
	Tags  []string
	Cart  map[string]int
	Inner *fuzzInner
}

type fuzzInner struct {
	Level int
	Notes []string
}

func seeds(f *testing.F, c codec.Codec) {
	f.Helper()
	v := fuzzData{
		Name: "Ada", N: -7, U: 1 << 63, F: 2.5, OK: true,
		At:   time.Date(2026, 11, 25, 1, 2, 3, 4, time.UTC),
		Tags: []string{"a", ""}, Cart: map[string]int{"apple": 2},
		Inner: &fuzzInner{Level: 3, Notes: []string{"x"}},
	}
	p, err := c.Marshal(&v)
	if err != nil {
		f.Fatal(err)
	}
	f.Add(p)
	for _, n := range []int{0, 1, len(p) / 2, len(p) - 1} {
		f.Add(p[:n])
	}
	f.Add([]byte{0xff, 0xff, 0xff, 0xff})
}

// fuzzUnmarshal checks that Unmarshal of any bytes returns (never panics),
// and that whatever it accepts encodes again.
func fuzzUnmarshal(f *testing.F, c codec.Codec) {
	seeds(f, c)
	f.Fuzz(func(t *testing.T, data []byte) {
		var v fuzzData
		if err := c.Unmarshal(data, &v); err != nil {
			return
		}
		if _, err := c.Marshal(&v); err != nil {
			t.Fatalf("accepted input does not encode again: %v", err)
		}
	})
}

func FuzzMsgPackUnmarshal(f *testing.F) { fuzzUnmarshal(f, codec.MsgPack()) }
func FuzzJSONUnmarshal(f *testing.F)    { fuzzUnmarshal(f, codec.JSON()) }
func FuzzGobUnmarshal(f *testing.F)     { fuzzUnmarshal(f, codec.Gob()) }
