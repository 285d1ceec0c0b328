package redisbackend

import (
	"crypto/sha256"
	"encoding/base64"
	"strconv"
	"time"
)

// The key layout, in one place (see the package documentation):
//
//	<prefix>s:{<tag>}<rest>         a session, h = tag+rest (sessionKey)
//	<prefix>o:{<hash of owner>}     the owner index, a sorted set (owners.go)
//	<prefix>o:{<hash of owner>}w    the claims of that index, a hash (on a
//	                                Cluster only)
//	<prefix>n:{<tag>}<rest>         the key of a session whose h is a hash
//	                                ('~'), so that its expiry can be
//	                                reported by key (nameKey)
//	<prefix>ev, <prefix>ev:{<slot tag>}  event channels (eventmsg.go)
//
// h is the session's hash (sessionHash): the Manager's storage key as it
// is, or '~' and base64url(SHA-256) of any other key. Braces mark the
// Cluster hash tag: 8 random characters spread sessions over all slots,
// and an owner's two keys share a slot.

// hashLen is the length of a hash: base64url(SHA-256) without padding.
const hashLen = 43

// keyBuf is stack space for building a session key.
type keyBuf [maxPrefix + 3 + hashLen + 1]byte

// tagLen is how many leading characters of h form the Cluster hash tag of
// a session key: 48 random bits spread sessions over all slots, and the
// client computes the slot (a CRC16 of the tag) on every command.
const tagLen = 8

// sessionKey returns the Redis key of a session, <prefix>s:{<tag>}<rest>
// with h = tag+rest (see sessionHash), and h.
func (b *Backend) sessionKey(buf *keyBuf, key string) (rk, h string) {
	var hb [hashLen]byte
	h = hashOf(&hb, key)
	n := len(b.cfg.prefix)
	p := buf[:n+3+hashLen+1]
	copy(p, b.cfg.prefix)
	copy(p[n:], "s:{")
	copy(p[n+3:], h[:tagLen])
	p[n+3+tagLen] = '}'
	copy(p[n+4+tagLen:], h[tagLen:])
	return string(p), h
}

// hashOf is sessionKey's h alone, written into hb where key is hashed.
func hashOf(hb *[hashLen]byte, key string) string {
	if sessionHash(hb[:], key) { // the Manager's keys: no copy
		return key
	}
	return string(hb[:])
}

// sessionKeyOf returns the Redis key of the session with hash h, which has
// hashLen bytes.
func (b *Backend) sessionKeyOf(h string) string {
	return b.cfg.prefix + "s:{" + h[:tagLen] + "}" + h[tagLen:]
}

// indexKey returns the Redis key of owner's index, <prefix>o:{<hash>}.
func (b *Backend) indexKey(owner string) string {
	var p [hashLen]byte
	hashInto(p[:], owner)
	return b.cfg.prefix + "o:{" + string(p[:]) + "}"
}

// sessionHash writes the hash tag of the session stored under key into
// dst[:hashLen]. A key that already looks like a hash (hashLen bytes of
// the base64url alphabet, as session.Manager's storage keys are) is used
// as it is, which saves hashing it a second time on every Load; any other
// key is hashed and marked with a leading '~', which base64url never
// contains, so the two kinds can never collide. It reports whether key
// was used as it is.
func sessionHash(dst []byte, key string) (asIs bool) {
	if len(key) == hashLen && isBase64URL(key) {
		copy(dst[:hashLen], key)
		return true
	}
	hashInto(dst, key)
	dst[0] = '~'
	return false
}

func isBase64URL(s string) bool {
	for i := 0; i < len(s); i++ {
		if base64Value[s[i]] == notBase64 {
			return false
		}
	}
	return true
}

// base64Value maps a base64url character to its value, 0 to 63, and any
// other byte to notBase64.
var base64Value = func() (t [256]byte) {
	for i := range t {
		t[i] = notBase64
	}
	for i, c := range []byte("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_") {
		t[c] = byte(i)
	}
	return t
}()

const notBase64 = 0xff

// hashInto writes base64url(SHA-256(s)) into dst[:hashLen]. It does not
// allocate for short s.
func hashInto(dst []byte, s string) {
	var buf [128]byte
	var sum [sha256.Size]byte
	if len(s) <= len(buf) {
		sum = sha256.Sum256(append(buf[:0], s...))
	} else {
		sum = sha256.Sum256([]byte(s))
	}
	base64.RawURLEncoding.Encode(dst[:hashLen], sum[:])
}

// nameMargin is how long a name key outlives its session's absolute
// deadline: time for every subscriber to read it after Redis expires the
// session.
const nameMargin = time.Minute

// hashed reports whether h, a session hash, is a hash of the session's key
// ('~'), not the key itself.
func hashed(h string) bool { return h[0] == '~' }

// nameKey returns the Redis key that keeps the key of the session whose
// hash h is hashed: <prefix>n:{<tag>}<rest>, in the session's slot. Redis
// forgets an expired record, and its key (and so its hash) says nothing
// of the key it was stored under; the name key, which outlives the record
// by nameMargin past its absolute deadline, lets Subscribe report the
// expiry by key. The Manager's keys are stored as they are and have none.
func (b *Backend) nameKey(h string) string {
	return b.cfg.prefix + "n:{" + h[:tagLen] + "}" + h[tagLen:]
}

// withName returns keys and, if h is hashed, h's name key after them.
func (b *Backend) withName(h string, keys ...string) []string {
	if hashed(h) {
		keys = append(keys, b.nameKey(h))
	}
	return keys
}

// nameArgs are the script arguments of a session's name: for a hashed h,
// the key and the name key's PXAT (nameMargin after the absolute deadline
// abs, unix micros); else two empty strings.
func nameArgs(h, key string, abs int64) (name, namePx string) {
	if !hashed(h) {
		return "", ""
	}
	return key, strconv.FormatInt(pxat(abs)+nameMargin.Milliseconds(), 10)
}
