package memorybackend

import "time"

// janitor sweeps expired records every interval until stop is closed, then
// closes done.
func (s *store) janitor(every time.Duration, stop <-chan struct{}, done chan<- struct{}) {
	defer close(done)
	t := time.NewTicker(every)
	defer t.Stop()
	for {
		select {
		case <-stop:
			return
		case <-t.C:
			s.sweep(stop)
		}
	}
}

// sweep removes the records that are expired, one shard at a time, and
// returns how many it removed. It returns early once stop is closed (stop
// may be nil).
//
// Each shard is scanned under its read lock, so loads go on meanwhile; only
// when the scan found expired records does sweep take the write lock, and
// then it checks each of them again, since a writer may have replaced it.
func (s *store) sweep(stop <-chan struct{}) int {
	removed := 0
	var expired []string
	for i := range s.shards {
		select {
		case <-stop:
			return removed
		default:
		}
		sh := &s.shards[i]
		now := s.read()
		expired = expired[:0]
		sh.mu.RLock()
		for k, p := range sh.m {
			if expiredAt(p, now) {
				expired = append(expired, k)
			}
		}
		sh.mu.RUnlock()
		if len(expired) == 0 {
			continue
		}
		sh.mu.Lock()
		for _, k := range expired {
			if p, ok := sh.m[k]; ok && expiredAt(p, now) {
				delete(sh.m, k)
				s.unindex(p.Owner, k)
				s.ended(k, p, false)
				removed++
			}
		}
		sh.mu.Unlock()
		clear(expired) // let the keys be collected
	}
	return removed
}
