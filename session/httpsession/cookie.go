package httpsession

import (
	"net/http"
	"strings"
	"time"
)

// maxCookies bounds how many well-formed cookies of our name a request may
// make us look up (a browser may hold one per domain and path), so a client
// cannot turn one request into many backend reads.
const maxCookies = 3

// requestIDs returns the well-formed session IDs the client sent, at most
// maxCookies, in the order of its Cookie headers (or, with WithHeader, of
// the values of that header). It reads the headers itself instead of
// through r.CookiesNamed, which allocates every cookie of the request.
// Malformed values are skipped before the cap, since they cost no backend
// read: otherwise junk cookies of our name (planted, say, from a sibling
// subdomain) ahead of the live one would hide it, so that Logout would
// leave it alive and Login create a second session beside it.
func (mw *Middleware[T]) requestIDs(r *http.Request, buf *[maxCookies]string) []string {
	ids := buf[:0]
	if mw.cf.header != "" {
		for _, v := range r.Header[mw.cf.header] {
			if v = strings.TrimSpace(v); !mw.m.ValidID(v) {
				continue
			}
			if ids = append(ids, v); len(ids) == maxCookies {
				return ids
			}
		}
		return ids
	}
	for _, line := range r.Header["Cookie"] {
		for part := range strings.SplitSeq(line, ";") {
			name, val, ok := strings.Cut(strings.TrimSpace(part), "=")
			if !ok || name != mw.cf.name {
				continue
			}
			if len(val) > 1 && val[0] == '"' && val[len(val)-1] == '"' {
				val = val[1 : len(val)-1]
			}
			if !mw.m.ValidID(val) {
				continue
			}
			if ids = append(ids, val); len(ids) == maxCookies {
				return ids
			}
		}
	}
	return ids
}

// send adds c, from newCookie or expiredCookie, to the response headers h:
// as a cookie, or with WithHeader its value alone in that header (empty
// for an expired cookie).
func (mw *Middleware[T]) send(h http.Header, c *http.Cookie) {
	if mw.cf.header != "" {
		h.Set(mw.cf.header, c.Value)
		return
	}
	if v := c.String(); v != "" {
		h.Add("Set-Cookie", v)
	}
}

// newCookie is the cookie that hands id to the client: persistent until
// absolute, or a browser-session cookie.
func (mw *Middleware[T]) newCookie(id string, absolute time.Time, persistent bool) *http.Cookie {
	c := mw.baseCookie()
	c.Value = id
	if persistent {
		c.Expires = absolute
		// Max-Age, relative, is what current browsers use; it spares
		// clients with a wrong clock. Expires is for the others.
		c.MaxAge = max(1, int((time.Until(absolute)+time.Second-1)/time.Second))
	}
	return c
}

// expiredCookie is the cookie that makes the client forget its session ID:
// an empty value (malformed, which requestIDs skips) that lives one second. It is not
// a deletion (Max-Age=0) because Chromium keeps a page sent with
// Cache-Control: no-store in its back/forward cache when a cookie is
// deleted, and evicts it only when a cookie is set (seen with Chromium 156
// in December 2026, cmd/sessiondemo/browser_test.go): after a logout that
// deletes the cookie, Back shows the logged-in page again.
func (mw *Middleware[T]) expiredCookie() *http.Cookie {
	c := mw.baseCookie()
	c.MaxAge = 1
	return c
}

func (mw *Middleware[T]) baseCookie() *http.Cookie {
	return &http.Cookie{
		Name:     mw.cf.name,
		Path:     mw.cf.path,
		Domain:   mw.cf.domain,
		Secure:   mw.cf.secure,
		HttpOnly: true,
		SameSite: mw.cf.sameSite,
	}
}
