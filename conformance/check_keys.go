package conformance

import (
	"context"
	"fmt"
	"strings"
	"time"

	"github.com/sessionkit/sessionkit/backend"
)

// hostile lists strings that are special to some store or protocol: glob
// and hash-tag characters of Redis, separators, NUL, line breaks, quotes,
// format verbs, invalid UTF-8, and pairs that a store folding case,
// trimming spaces, normalising Unicode or stopping at NUL would merge.
var hostile = []string{
	"",
	"*", "?", "[a-z]", "[^*]", "\\*",
	"{}", "{", "}", "{a}", "}{", "{{}}",
	"\x00", "a\x00", "a\x00b", "\x00\x00",
	"\n", "\r\n", "a\nb", "\t",
	" ", "a ", " a", "a b",
	"A", "a",
	"é", "e\u0301", // é precomposed and decomposed
	"ünïcödé 🔑 キー", "\u202e", "\ufeff",
	"\xff\xfe", "\xc3\x28", // invalid UTF-8
	":", "::", "/", "../", "\\", "%", "%s%d%n", "$1", "'", "\"", "`", ";", "--", "#",
	"*1\r\n$4\r\nPING\r\n", "KEYS *", "s:{x}", "o:{x}",
}

// hostileStrings returns the hostile strings, each made unique with base:
// once with base in front and once behind it.
func hostileStrings(base string) []string {
	out := make([]string, 0, 2*len(hostile))
	for _, h := range hostile {
		out = append(out, base+h)
		if h != "" {
			out = append(out, h+base)
		}
	}
	return out
}

func checkKeysHostile(ctx context.Context, b backend.Backend) error {
	keys := hostileStrings(uniq())
	recs := make([]backend.Record, len(keys))
	for i, k := range keys {
		rec := newRecord(k, "", []byte(fmt.Sprintf("record %d", i)))
		got, err := b.Create(ctx, rec)
		if err != nil {
			return failf("Create with key %s: %w (these keys are all distinct)", show(k), err)
		}
		if got.Key != k {
			return failf("Create with key %s returned Key %s", show(k), show(got.Key))
		}
		rec.Version = 1
		recs[i] = rec
	}
	for _, rec := range recs {
		if err := expectStored(ctx, b, rec, "hostile key"); err != nil {
			return err
		}
	}
	// Update, Touch and Delete every other key; the rest must not notice.
	for i := 0; i < len(recs); i += 2 {
		rec := recs[i]
		rec.Payload = append([]byte("updated "), rec.Payload...)
		if _, err := b.Update(ctx, rec); err != nil {
			return failf("Update of key %s: %w", show(rec.Key), err)
		}
		if err := b.Touch(ctx, rec.Key, time.Now().Add(30*time.Minute)); err != nil {
			return failf("Touch of key %s: %w", show(rec.Key), err)
		}
		if err := b.Delete(ctx, rec.Key); err != nil {
			return failf("Delete of key %s: %w", show(rec.Key), err)
		}
	}
	for i, rec := range recs {
		if i%2 == 0 {
			if err := expectGone(ctx, b, rec.Key, "deleted hostile key"); err != nil {
				return err
			}
			continue
		}
		if err := expectStored(ctx, b, rec, "hostile key after its neighbours were updated, touched and deleted"); err != nil {
			return err
		}
	}
	return nil
}

func checkKeysLong(ctx context.Context, b backend.Backend) error {
	for _, n := range []int{4 << 10} {
		base := uniq()
		key := base + strings.Repeat("k", n-len(base))
		rec, err := create(ctx, b, newRecord(key, "", []byte("long key")))
		if err != nil {
			return failf("key of %d bytes: %w", n, err)
		}
		// The same long key with its last byte changed is another key.
		other := key[:len(key)-1] + "K"
		if err := expectGone(ctx, b, other, fmt.Sprintf("a key of %d bytes differing in its last byte from a stored one", n)); err != nil {
			return err
		}
		if err := expectStored(ctx, b, rec, fmt.Sprintf("key of %d bytes", n)); err != nil {
			return err
		}
		rec.Payload = []byte("updated")
		if rec, err = b.Update(ctx, rec); err != nil {
			return failf("Update with a key of %d bytes: %w", n, err)
		}
		if err := b.Touch(ctx, key, time.Now().Add(time.Hour)); err != nil {
			return failf("Touch with a key of %d bytes: %w", n, err)
		}
		if err := b.Delete(ctx, key); err != nil {
			return failf("Delete with a key of %d bytes: %w", n, err)
		}
		if err := expectGone(ctx, b, key, fmt.Sprintf("deleted key of %d bytes", n)); err != nil {
			return err
		}
	}
	return nil
}
