package redisbackend

import (
	"errors"
	"testing"
)

// FuzzDecodeRecord: whatever a session key holds, decoding it returns a
// record or ErrCorruptRecord, never panics, and a record accounts for
// every byte of the value.
func FuzzDecodeRecord(f *testing.F) {
	valid, err := encodeRecord(7, 1, 2, 3, "owner", []byte("payload"))
	if err != nil {
		f.Fatal(err)
	}
	v1 := formatV1Record(7, 1, 2, 3, "owner", "key", "payload")
	for _, seed := range []string{valid, v1, "", "\x01", "\x02", valid[:minRecord], valid + "x", "\x03" + valid[1:], v1[:minRecord+7]} {
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
		n := minRecord + len(rec.Owner) + len(rec.Payload)
		if s[0] == formatV1 {
			n += 4 + int(bigEndian32(s[minRecord+len(rec.Owner):]))
		}
		if n != len(s) {
			t.Fatalf("a record of %d bytes decoded to fields of %d", len(s), n)
		}
	})
}
