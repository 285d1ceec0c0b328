package redisbackend

import (
	"encoding/binary"
	"errors"
	"strconv"
	"sync"

	"github.com/sessionkit/sessionkit/backend"
)

// An event message, as the write scripts publish it, is binary and
// unambiguous whatever bytes keys and owners hold:
//
//	offset  size  field (integers big-endian)
//	0       1     kind, a backend.EventKind (Created, Rekeyed, Deleted,
//	              Expired), or kindPending or kindAbort (reorder.go)
//	1       8     at, unix microseconds by the writer's clock
//	9       4+n   key: length n, then the bytes
//	...     4+m   old key (EventRekeyed, kindPending, kindAbort, else
//	              empty): length m, the bytes
//	...     4+o   owner: length o, the bytes
//
// The key, old key and owner fields have the layout of the record's owner
// field (ownerField), so that the Delete script can append the owner it
// reads from the record as it is.

// eventMsg returns the message of an event.
func eventMsg(kind backend.EventKind, at int64, key, oldKey, owner string) string {
	b := make([]byte, 0, 1+8+12+len(key)+len(oldKey)+len(owner))
	b = appendEventHead(b, kind, at, key, oldKey)
	b = binary.BigEndian.AppendUint32(b, uint32(len(owner)))
	return string(append(b, owner...))
}

// eventHead returns the message of an event without its owner field, for
// a script that appends the owner it reads from the record.
func eventHead(kind backend.EventKind, at int64, key, oldKey string) string {
	return string(appendEventHead(make([]byte, 0, 1+8+8+len(key)+len(oldKey)), kind, at, key, oldKey))
}

func appendEventHead(b []byte, kind backend.EventKind, at int64, key, oldKey string) []byte {
	b = append(b, byte(kind))
	b = binary.BigEndian.AppendUint64(b, uint64(at))
	b = binary.BigEndian.AppendUint32(b, uint32(len(key)))
	b = append(b, key...)
	b = binary.BigEndian.AppendUint32(b, uint32(len(oldKey)))
	return append(b, oldKey...)
}

var errBadEvent = errors.New("redisbackend: malformed event message")

// decodeEvent reads an event message. It returns errBadEvent for anything
// eventMsg does not produce: a short or overlong message, an unknown kind,
// a time beyond what micros stores.
func decodeEvent(msg string) (backend.Event, error) {
	if len(msg) < 1+8 {
		return backend.Event{}, errBadEvent
	}
	kind := backend.EventKind(msg[0])
	switch kind {
	case backend.EventCreated, backend.EventRekeyed, backend.EventDeleted, backend.EventExpired, kindPending, kindAbort:
	default:
		return backend.Event{}, errBadEvent
	}
	at := binary.BigEndian.Uint64([]byte(msg[1:9]))
	if at > maxMicros {
		return backend.Event{}, errBadEvent
	}
	rest := msg[9:]
	var fields [3]string
	for i := range fields {
		if len(rest) < 4 {
			return backend.Event{}, errBadEvent
		}
		n := binary.BigEndian.Uint32([]byte(rest[:4]))
		if uint64(n) > uint64(len(rest)-4) {
			return backend.Event{}, errBadEvent
		}
		fields[i], rest = rest[4:4+n], rest[4+n:]
	}
	twoKeys := kind == backend.EventRekeyed || kind == kindPending || kind == kindAbort
	if rest != "" || fields[0] == "" || twoKeys != (fields[1] != "") {
		return backend.Event{}, errBadEvent
	}
	return backend.Event{Kind: kind, Key: fields[0], OldKey: fields[1], Owner: fields[2], At: fromMicros(int64(at))}, nil
}

// Channels. Off a Cluster every event goes to one channel,
// <prefix>ev, by PUBLISH. On a Cluster a PUBLISH would reach every node,
// so the scripts SPUBLISH to a shard channel in the slot of the record
// they write, <prefix>ev:{<tag of that slot>}: a script may only touch
// its own node, and an event costs that shard alone. A subscriber
// SSUBSCRIBEs to the channels of all 16384 slots, each on the node that
// serves it.

// clusterSlots is the number of Redis Cluster hash slots.
const clusterSlots = 16384

// channel returns the channel of the events of the session with hash h,
// and the publish mode the scripts take: "S" for SPUBLISH (Cluster), "P"
// for PUBLISH.
func (b *Backend) channel(h string) (mode, ch string) {
	if !b.cluster {
		return "P", b.cfg.prefix + "ev"
	}
	return "S", b.slotChannel(keySlot(h[:tagLen]))
}

// slotChannel is the shard channel of the events of slot s.
func (b *Backend) slotChannel(s uint16) string {
	return b.cfg.prefix + "ev:{" + slotTags()[s] + "}"
}

// slotTags maps each slot to the shortest string (of base-36 digits)
// whose CRC16 falls into it: the hash tag of the slot's channel.
var slotTags = sync.OnceValue(func() *[clusterSlots]string {
	var t [clusterSlots]string
	left := clusterSlots
	for i := 0; left > 0; i++ {
		s := strconv.FormatInt(int64(i), 36)
		if k := keySlot(s); t[k] == "" {
			t[k] = s
			left--
		}
	}
	return &t
})

// keySlot is the Redis Cluster slot of a hash tag: CRC16 (XMODEM) modulo
// 16384.
func keySlot(tag string) uint16 {
	var crc uint16
	for i := 0; i < len(tag); i++ {
		crc = crc<<8 ^ crc16Table[byte(crc>>8)^tag[i]]
	}
	return crc % clusterSlots
}

var crc16Table = func() (t [256]uint16) {
	for i := range t {
		c := uint16(i) << 8
		for range 8 {
			if c&0x8000 != 0 {
				c = c<<1 ^ 0x1021
			} else {
				c <<= 1
			}
		}
		t[i] = c
	}
	return t
}()
