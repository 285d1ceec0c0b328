package session

import (
	"crypto/sha256"
	"encoding/base64"

	"github.com/google/uuid"
)

// maxIDLen bounds the IDs a Manager with a custom generator accepts.
const maxIDLen = 256

func uuidV4() (string, error) {
	u, err := uuid.NewRandom()
	if err != nil {
		return "", err
	}
	return u.String(), nil
}

// ValidID reports whether id is well formed for this Manager: a UUID v4 in
// canonical form, or with a custom generator (WithIDGenerator) up to 256
// bytes of the URL-safe and base64 alphabets. It says nothing about whether
// a session with that ID exists. Get, Update and Destroy answer a malformed
// ID without a backend call; ValidID lets a caller that picks among several
// candidate IDs (httpsession among a request's cookies) drop junk first.
func (m *Manager[T]) ValidID(id string) bool { return m.validID(id) }

// validID reports whether id can be a session ID of this Manager. It runs
// before any backend call, so a malformed ID costs nothing and can never
// reach the store.
func (m *Manager[T]) validID(id string) bool {
	if !m.cf.customID {
		return isUUIDv4(id)
	}
	if len(id) == 0 || len(id) > maxIDLen {
		return false
	}
	for i := 0; i < len(id); i++ {
		if !idChar[id[i]] {
			return false
		}
	}
	return true
}

var idChar = func() (t [256]bool) {
	for _, c := range []byte("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_.~+/=") {
		t[c] = true
	}
	return t
}()

// isUUIDv4 accepts exactly the canonical form uuid.NewRandom().String()
// produces: 36 bytes, lower-case hex, version 4, RFC 4122 variant.
func isUUIDv4(s string) bool {
	if len(s) != 36 || s[8] != '-' || s[13] != '-' || s[18] != '-' || s[23] != '-' ||
		s[14] != '4' || !isVariant[s[19]] {
		return false
	}
	for _, part := range [...]string{s[:8], s[9:13], s[15:18], s[20:23], s[24:]} {
		for i := 0; i < len(part); i++ {
			if !isHex[part[i]] {
				return false
			}
		}
	}
	return true
}

var isHex, isVariant = func() (hex, variant [256]bool) {
	for _, c := range []byte("0123456789abcdef") {
		hex[c] = true
	}
	for _, c := range []byte("89ab") {
		variant[c] = true
	}
	return hex, variant
}()

// storageKey is the only form of an ID that reaches a backend:
// base64url(SHA-256(id)), 43 bytes.
// storageKeyLen is the length of every storage key.
const storageKeyLen = 43

func storageKey(id string) string {
	var sum [sha256.Size]byte
	if len(id) <= maxIDLen { // always, for validated IDs: hash without allocating
		var buf [maxIDLen]byte
		sum = sha256.Sum256(buf[:copy(buf[:], id)])
	} else {
		sum = sha256.Sum256([]byte(id))
	}
	var out [storageKeyLen]byte
	base64.RawURLEncoding.Encode(out[:], sum[:])
	return string(out[:])
}
