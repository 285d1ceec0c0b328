package httpsession

import (
	"sync"
	"time"
)

// renewalWindow is how long a Middleware remembers what its Logins and
// Logouts did to an ID: about as long as a request sent with the old
// cookie, before the browser heard of the change, can still be on its way.
const renewalWindow = 10 * time.Second

// maxRenewals bounds the entries remembered of each kind (about 100 bytes
// each): under a flood of logins older ones are forgotten early.
const maxRenewals = 10_000

// renewals remembers, for renewalWindow, the ID each Login of this
// Middleware replaced and the ID it handed out instead, so that a Logout
// that raced the Login with the old cookie can end the new session too,
// and the IDs Logout ended, so that a Login racing it with that cookie
// refuses (or ends what it just handed out). Otherwise a Logout whose
// response reaches the browser after the Login's makes the browser drop
// the new cookie while the new session lives on, logged in and reachable
// by nobody. A request sent after the Logout's response arrived carries no
// ended ID (the cookie is emptied), so only racing requests are affected.
// It covers the requests one instance serves; a race across instances is
// not seen.
//
// Logout marks an ID ended before it looks for a renewal of it, and Login
// records a renewal before it looks for an end, so whichever comes second
// sees the other.
type renewals struct {
	handed recent // old ID -> the ID handed out in its place
	ended  recent // ID -> "" once a Logout ended it
}

// recent is a map whose entries expire after renewalWindow.
type recent struct {
	mu    sync.Mutex
	m     map[string]entry
	order []string // keys, oldest first, for expiry
}

type entry struct {
	v  string
	at time.Time
}

func (rc *recent) put(k, v string) {
	now := time.Now()
	rc.mu.Lock()
	defer rc.mu.Unlock()
	if rc.m == nil {
		rc.m = make(map[string]entry)
	}
	drop := 0
	for ; drop < len(rc.order); drop++ {
		o := rc.order[drop]
		if e, ok := rc.m[o]; ok && len(rc.order)-drop < maxRenewals && now.Sub(e.at) <= renewalWindow {
			break
		}
		delete(rc.m, o)
	}
	rc.order = append(rc.order[drop:], k)
	rc.m[k] = entry{v, now}
}

// get returns the value of k and whether it was put within renewalWindow;
// with take it forgets k.
func (rc *recent) get(k string, take bool) (string, bool) {
	rc.mu.Lock()
	defer rc.mu.Unlock()
	e, ok := rc.m[k]
	if take {
		delete(rc.m, k)
	}
	if !ok || time.Since(e.at) > renewalWindow {
		return "", false
	}
	return e.v, true
}

// add records that the client of old was handed id in its place.
func (rn *renewals) add(old, id string) { rn.handed.put(old, id) }

// take returns the ID handed out in place of old, and forgets it, or "".
func (rn *renewals) take(old string) string {
	id, _ := rn.handed.get(old, true)
	return id
}

// end records that a Logout ended id.
func (rn *renewals) end(id string) { rn.ended.put(id, "") }

// wasEnded reports whether a Logout ended id within renewalWindow.
func (rn *renewals) wasEnded(id string) bool {
	_, ok := rn.ended.get(id, false)
	return ok
}
