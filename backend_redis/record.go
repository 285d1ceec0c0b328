package redisbackend

import (
	"encoding/binary"
	"fmt"
	"math"
	"strconv"
	"time"
	"unsafe"

	"github.com/sessionkit/sessionkit/backend"
)

// A stored record is one Redis string, so that one GET (served from the
// client-side cache when it is warm) returns everything Load needs:
//
//	offset  size  field (integers big-endian)
//	0       1     format, formatV2
//	1       8     version, uint64
//	9       8     created-at, unix microseconds (0: zero time.Time)
//	17      8     idle deadline, unix microseconds
//	25      8     absolute deadline, unix microseconds
//	33      4     owner length n
//	37      n     owner
//	37+n    ...   payload
//
// The record does not hold its key: the Redis key it is stored under
// names it (keys.go), as the key itself for the Manager's keys and
// through the name key for the others. Format 1, written before, held the
// key after the owner (4-byte length, then the bytes); it is still read,
// so that the sessions stored by an earlier release live on, and every
// write stores format 2.
//
// The Lua scripts read the version as raw bytes, the deadlines as numbers
// (exact: microsecond times stay below 2^53) and the owner as the
// length-prefixed bytes at offset 33; luaRecord gives them the offsets.
const (
	formatV1    = 1 // read only: the key after the owner
	formatV2    = 2
	offVersion  = 1
	offCreated  = 9
	offIdle     = 17
	offAbs      = 25
	offOwnerLen = 33
	minRecord   = 37 // header with an empty owner

	// maxMicros keeps times exact in Lua numbers (doubles); it is the year
	// 2255.
	maxMicros = 1<<53 - 1
)

// luaRecord is the record layout as the scripts use it, written from the
// constants above: Lua strings are 1-based. Both formats share the header
// the scripts read.
var luaRecord = fmt.Sprintf(`
local FORMAT, FORMAT_V1, MIN_RECORD = %d, %d, %d
local VERSION, CREATED, IDLE, ABS, OWNER = %d, %d, %d, %d, %d
`, formatV2, formatV1, minRecord, offVersion+1, offCreated+1, offIdle+1, offAbs+1, offOwnerLen+1)

// micros converts t to unix microseconds for storage: 0 for the zero time,
// otherwise clamped to [1, maxMicros].
func micros(t time.Time) int64 {
	if t.IsZero() {
		return 0
	}
	return min(max(t.UnixMicro(), 1), maxMicros)
}

// nowMicros is the application's clock as the scripts take it.
func nowMicros() string { return strconv.FormatInt(nowUS(), 10) }

// nowUS is the application's clock in unix microseconds.
func nowUS() int64 { return micros(time.Now()) }

// fromMicros is the inverse of micros.
func fromMicros(us int64) time.Time {
	if us == 0 {
		return time.Time{}
	}
	return time.UnixMicro(us)
}

// pxat is the Redis PXAT (unix milliseconds) for a deadline in unix
// microseconds: the last whole millisecond strictly before the deadline,
// because Redis keeps a key alive through the millisecond of its PXAT. It is
// at least 1 (PXAT 0 is an error; 1 is long past).
func pxat(us int64) int64 {
	return max(us/1000-1, 1)
}

// encodeRecord returns the stored form of a record.
func encodeRecord(version uint64, created, idle, abs int64, owner string, payload []byte) (string, error) {
	if len(owner) > math.MaxUint32 {
		return "", fmt.Errorf("redisbackend: owner longer than %d bytes", uint32(math.MaxUint32))
	}
	b := make([]byte, 0, minRecord+len(owner)+len(payload))
	b = append(b, formatV2)
	b = binary.BigEndian.AppendUint64(b, version)
	b = binary.BigEndian.AppendUint64(b, uint64(created))
	b = binary.BigEndian.AppendUint64(b, uint64(idle))
	b = binary.BigEndian.AppendUint64(b, uint64(abs))
	b = binary.BigEndian.AppendUint32(b, uint32(len(owner)))
	b = append(b, owner...)
	b = append(b, payload...)
	return string(b), nil
}

// ownerField is the owner as it appears at offset 33 of a stored record:
// its 4-byte length, then its bytes. Scripts compare it byte for byte.
func ownerField(owner string) string {
	b := make([]byte, 0, 4+len(owner))
	b = binary.BigEndian.AppendUint32(b, uint32(len(owner)))
	return string(append(b, owner...))
}

// versionBytes is a version as stored at offset 1.
func versionBytes(v uint64) string {
	return string(binary.BigEndian.AppendUint64(make([]byte, 0, 8), v))
}

// decodeRecord parses a stored record. The Payload is a fresh copy; Owner
// is a substring of s. The Key is left empty: the caller knows it.
func decodeRecord(s string) (backend.Record, error) {
	return copied(viewRecord(s))
}

// viewRecord is decodeRecord with a read-only Payload that aliases s:
// strings are immutable, so nothing can change it under the caller, and the
// caller must not change it either.
func viewRecord(s string) (backend.Record, error) {
	if len(s) < minRecord || (s[0] != formatV2 && s[0] != formatV1) {
		return backend.Record{}, fmt.Errorf("%w: bad header (%d bytes)", ErrCorruptRecord, len(s))
	}
	off := offOwnerLen + 4
	n32 := bigEndian32(s[offOwnerLen:])
	if uint64(n32) > uint64(len(s)-off) { // unsigned: no negative lengths where int has 32 bits
		return backend.Record{}, fmt.Errorf("%w: owner length %d beyond the record", ErrCorruptRecord, n32)
	}
	n := int(n32)
	owner := s[off : off+n]
	off += n
	if s[0] == formatV1 { // skip the key
		if len(s)-off < 4 {
			return backend.Record{}, fmt.Errorf("%w: format 1 record without its key length", ErrCorruptRecord)
		}
		m32 := bigEndian32(s[off:])
		off += 4
		if uint64(m32) > uint64(len(s)-off) {
			return backend.Record{}, fmt.Errorf("%w: key length %d beyond the record", ErrCorruptRecord, m32)
		}
		off += int(m32)
	}
	return backend.Record{
		Owner:            owner,
		Payload:          viewBytes(s[off:]),
		Version:          bigEndian64(s[offVersion:]),
		CreatedAt:        fromMicros(int64(bigEndian64(s[offCreated:]))),
		IdleDeadline:     fromMicros(int64(bigEndian64(s[offIdle:]))),
		AbsoluteDeadline: fromMicros(int64(bigEndian64(s[offAbs:]))),
	}, nil
}

// bigEndian64 reads a big-endian uint64 from the first 8 bytes of s.
func bigEndian64(s string) uint64 {
	_ = s[7]
	return uint64(s[7]) | uint64(s[6])<<8 | uint64(s[5])<<16 | uint64(s[4])<<24 |
		uint64(s[3])<<32 | uint64(s[2])<<40 | uint64(s[1])<<48 | uint64(s[0])<<56
}

// bigEndian32 reads a big-endian uint32 from the first 4 bytes of s.
func bigEndian32(s string) uint32 {
	_ = s[3]
	return uint32(s[3]) | uint32(s[2])<<8 | uint32(s[1])<<16 | uint32(s[0])<<24
}

// viewBytes returns the bytes of s without copying them: non-nil, and never
// to be written.
func viewBytes(s string) []byte {
	if len(s) == 0 {
		return []byte{}
	}
	return unsafe.Slice(unsafe.StringData(s), len(s))
}
