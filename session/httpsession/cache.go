package httpsession

import (
	"net/http"
	"strings"
)

// cacheHeaders adds Vary and, unless WithCacheControl(false), Cache-Control
// to the response of a request that used its session, right before the
// headers go out: a shared cache must never hand one user's session ID or
// page to another, and a browser must not show a logged-in page from its
// cache after the user logged out (the Back button). A request that never
// asked for its session gets neither, so public pages stay cacheable.
// rs.mu is held.
func (rs *response[T]) cacheHeaders() {
	if rs.sess == nil {
		return
	}
	h := rs.w.Header()
	addVary(h, rs.mw.cf.varyOn())
	if !rs.mw.cf.cache {
		return
	}
	cc := h.Values("Cache-Control")
	switch {
	case rs.cookie != nil:
		// Sets or clears the ID: no shared cache may keep it. The
		// handler's private (browser-only) caching may stay.
		if !hasDirective(cc, "no-store") && !hasDirective(cc, "private") {
			h.Set("Cache-Control", "no-store")
		}
	case rs.sess.Owner != "" && len(cc) == 0:
		h.Set("Cache-Control", "no-store")
	}
}

// addVary adds name to the Vary header unless it, or "*", is there.
func addVary(h http.Header, name string) {
	for _, v := range h.Values("Vary") {
		for tok := range strings.SplitSeq(v, ",") {
			tok = strings.TrimSpace(tok)
			if tok == "*" || strings.EqualFold(tok, name) {
				return
			}
		}
	}
	h.Add("Vary", name)
}

// hasDirective reports whether the Cache-Control values cc hold the
// directive name (with or without an argument).
func hasDirective(cc []string, name string) bool {
	for _, v := range cc {
		for d := range strings.SplitSeq(v, ",") {
			d, _, _ = strings.Cut(d, "=")
			if strings.EqualFold(strings.TrimSpace(d), name) {
				return true
			}
		}
	}
	return false
}
