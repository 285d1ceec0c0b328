package memorybackend

import (
	"context"
	"hash/maphash"
	"sync"
	"unsafe"

	"github.com/sessionkit/sessionkit/backend"
)

// ownerData is the content of an owner-index shard: owner → set of keys.
// Anonymous records (Owner "") are not indexed. A nil map means the backend
// is closed.
type ownerData struct {
	mu sync.Mutex
	m  map[string]*ownerSet
}

// ownerSet is the keys of one owner, and the owner's name as the entries of
// those keys hold it: one copy of the name per owner, not per record.
type ownerSet struct {
	name string
	keys map[string]struct{}
}

// ownerShard pads ownerData to two cache lines, as shard does.
type ownerShard struct {
	ownerData
	_ [128 - unsafe.Sizeof(ownerData{})%128]byte
}

// ownerFor returns the owner-index shard that holds owner.
func (s *store) ownerFor(owner string) *ownerShard {
	return &s.owners[maphash.String(s.seed, owner)&s.mask]
}

// index records that key belongs to owner, and returns owner as the index
// holds it, for key's entry to share. The caller holds the write lock of
// key's record shard.
func (s *store) index(owner, key string) string {
	if owner == "" {
		return ""
	}
	o := s.ownerFor(owner)
	o.mu.Lock()
	defer o.mu.Unlock()
	if o.m == nil {
		return owner
	}
	set := o.m[owner]
	if set == nil {
		set = &ownerSet{name: owner, keys: make(map[string]struct{})}
		o.m[owner] = set
	}
	set.keys[key] = struct{}{}
	return set.name
}

// unindex records that key no longer belongs to owner, dropping the owner's
// set once it is empty. The caller holds the write lock of key's record
// shard.
func (s *store) unindex(owner, key string) {
	if owner == "" {
		return
	}
	o := s.ownerFor(owner)
	o.mu.Lock()
	if set, ok := o.m[owner]; ok {
		delete(set.keys, key)
		if len(set.keys) == 0 {
			delete(o.m, owner)
		}
	}
	o.mu.Unlock()
}

// ownerKeys returns a snapshot of the keys indexed under owner, and whether
// the backend is closed.
func (s *store) ownerKeys(owner string) (keys []string, closed bool) {
	o := s.ownerFor(owner)
	o.mu.Lock()
	if o.m == nil {
		o.mu.Unlock()
		return nil, true
	}
	var set map[string]struct{}
	if os := o.m[owner]; os != nil {
		set = os.keys
	}
	keys = make([]string, 0, len(set))
	for k := range set {
		keys = append(keys, k)
	}
	o.mu.Unlock()
	return keys, false
}

// ListByOwner returns the live records whose Owner is owner, in no
// particular order, or an empty slice if there are none. Anonymous records
// are not indexed: ListByOwner with owner "" returns an empty slice. The
// returned slice and every Payload in it belong to the caller.
func (b *Backend) ListByOwner(ctx context.Context, owner string) ([]backend.Record, error) {
	if err := ctx.Err(); err != nil {
		return nil, ctxError("list by owner", err)
	}
	s := b.s
	if owner == "" {
		if s.closed() {
			return nil, errClosed
		}
		return []backend.Record{}, nil
	}
	keys, closed := s.ownerKeys(owner)
	if closed {
		return nil, errClosed
	}
	now := s.read()
	out := make([]backend.Record, 0, len(keys))
	for _, k := range keys {
		sh := s.shardFor(k)
		sh.mu.RLock()
		if sh.m == nil {
			sh.mu.RUnlock()
			return nil, errClosed
		}
		p, ok := sh.m[k]
		var e entry
		if ok {
			e = *p
		}
		sh.mu.RUnlock()
		if !ok || e.Owner != owner || expiredAt(&e, now) {
			continue
		}
		out = append(out, e.record(k))
	}
	return out, nil
}

// DeleteByOwner deletes every record whose Owner is owner, expired ones
// included, and reports how many live records it deleted. It repeats until
// the owner has no records left, so a record moved to a new key (Rekey) or
// to the owner (Update) while it runs is deleted too. Anonymous records are
// not indexed: DeleteByOwner with owner "" deletes nothing and returns 0.
// If ctx is done between two rounds it returns the count so far and the
// context's error, wrapped.
func (b *Backend) DeleteByOwner(ctx context.Context, owner string) (int, error) {
	if err := ctx.Err(); err != nil {
		return 0, ctxError("delete by owner", err)
	}
	s := b.s
	if owner == "" {
		if s.closed() {
			return 0, errClosed
		}
		return 0, nil
	}
	n := 0
	for {
		keys, closed := s.ownerKeys(owner)
		if closed {
			return n, errClosed
		}
		if len(keys) == 0 {
			return n, nil
		}
		now := s.read()
		for _, k := range keys {
			sh := s.shardFor(k)
			sh.mu.Lock()
			if sh.m == nil {
				sh.mu.Unlock()
				return n, errClosed
			}
			if p, ok := sh.m[k]; ok && p.Owner == owner {
				live := !expiredAt(p, now)
				if live {
					n++
				}
				delete(sh.m, k)
				s.ended(k, p, live)
			}
			// Drop k from owner's set in every case, so that each round
			// shrinks the set even if the index were ever stale.
			s.unindex(owner, k)
			sh.mu.Unlock()
		}
		if err := ctx.Err(); err != nil {
			return n, ctxError("delete by owner", err)
		}
	}
}

// closed reports whether Close has dropped the records.
func (s *store) closed() bool {
	o := &s.owners[0]
	o.mu.Lock()
	c := o.m == nil
	o.mu.Unlock()
	return c
}
