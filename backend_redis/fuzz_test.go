package redisbackend

import (
	"errors"
	"testing"
)

// FuzzDecodeRecord: whatever a session key holds, decoding it returns a
// record or ErrCorruptRecord, never panics, and a record accounts for
// every byte of the value.
func FuzzDecodeRecord(f *testing.F) {
	valid, err := encodeRecord(7, 1, 2, 3, "owner", "key", []byte("payload"))
	if err != nil {
		f.Fatal(err)
	}
	for _, seed := range []string{valid, "", "\x01", valid[:minRecord], valid + "x", "\x02" + valid[1:]} {
		f.Add(seed)
	}
	f.Fuzz(func(t *testing.T, s string) {
		rec, err := decodeRecord(s)
		if err != nil {
			if !errors.Is(err, ErrCorruptRecord) {
				t.Fatalf("decodeRecord: %v, want ErrCorruptRecord", err)
			}
			return
		}
		if n := minRecord + len(rec.Owner) + len(rec.Key) + len(rec.Payload); n != len(s) {
			t.Fatalf("a record of %d bytes decoded to fields of %d", len(s), n)
		}
	})
}
