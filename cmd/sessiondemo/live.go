package main

import (
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"sync"
	"time"

	"github.com/sessionkit/sessionkit/session"
)

// The live logout: each instance subscribes once to its store's session
// events (session.Manager.Subscribe) and hands them to a hub, which tells
// the open event streams (GET /events, one per open page) whose session
// ended. The page's script shows a banner when its stream says "ended",
// and fetches its list of the user's sessions again (GET /devices) when
// it says "devices".

// heartbeatInterval is how often an open event stream sends a comment
// line, so that proxies and browsers keep an idle stream open.
// streamWriteTimeout bounds each write to a stream, so that a client that
// stopped reading ends its stream instead of holding it open.
const (
	heartbeatInterval  = 15 * time.Second
	streamWriteTimeout = 10 * time.Second
)

// What a stream can be told: why it is over.
const (
	endNone    = iota
	endEnded   // destroyed, or gone before the stream opened: the page shows the banner
	endExpired // expired: the banner says so
	endReload  // renewed (a login in this browser), or gone for a reason not known: the page reloads
)

// hub fans one instance's session events out to its open event streams,
// by session handle. Publishing never waits for a stream: each stream has
// one slot (why it is over) and a wake-up channel of one, so a slow
// browser holds up nothing but its own stream.
type hub struct {
	mu      sync.Mutex
	streams map[string]map[*watch]struct{} // handle → the streams watching it
	owners  map[string]map[*watch]struct{} // owner → the streams of the owner's sessions
}

// watch is the state of one open stream, guarded by hub.mu.
type watch struct {
	handle  string
	owner   string        // set by follow
	wake    chan struct{} // capacity 1: end, recheck or devices changed
	end     int           // endNone until the session is over for this stream
	recheck bool          // events were missed: read the session again
	devices bool          // another session of the owner began or ended
}

func newHub() *hub {
	return &hub{streams: map[string]map[*watch]struct{}{}, owners: map[string]map[*watch]struct{}{}}
}

// watch registers a stream for the session with that handle; the caller
// must drop it.
func (h *hub) watch(handle string) *watch {
	w := &watch{handle: handle, wake: make(chan struct{}, 1)}
	h.mu.Lock()
	defer h.mu.Unlock()
	add(h.streams, handle, w)
	return w
}

// follow tells w of the other sessions of owner too (devices).
func (h *hub) follow(w *watch, owner string) {
	if owner == "" {
		return
	}
	h.mu.Lock()
	defer h.mu.Unlock()
	w.owner = owner
	add(h.owners, owner, w)
}

// drop unregisters w.
func (h *hub) drop(w *watch) {
	h.mu.Lock()
	defer h.mu.Unlock()
	remove(h.streams, w.handle, w)
	if w.owner != "" {
		remove(h.owners, w.owner, w)
	}
}

func add(m map[string]map[*watch]struct{}, k string, w *watch) {
	set := m[k]
	if set == nil {
		set = map[*watch]struct{}{}
		m[k] = set
	}
	set[w] = struct{}{}
}

func remove(m map[string]map[*watch]struct{}, k string, w *watch) {
	delete(m[k], w)
	if len(m[k]) == 0 {
		delete(m, k)
	}
}

// open is how many streams are registered.
func (h *hub) open() int {
	h.mu.Lock()
	defer h.mu.Unlock()
	n := 0
	for _, set := range h.streams {
		n += len(set)
	}
	return n
}

// publish takes one event of the store (the func given to Subscribe).
func (h *hub) publish(e session.Event) {
	h.mu.Lock()
	defer h.mu.Unlock()
	switch e.Kind {
	case session.EventCreated:
		h.changed(e.Owner, e.Handle)
	case session.EventDestroyed:
		h.end(e.Handle, endEnded)
		h.changed(e.Owner, e.Handle)
	case session.EventExpired:
		h.end(e.Handle, endExpired)
		h.changed(e.Owner, e.Handle) // Owner may be unknown: then the lists wait for the next change
	case session.EventRenewed:
		// Only the holder of the old ID can renew it: the page's browser
		// logged in again (another tab), and its cookie names the new ID.
		h.end(e.OldHandle, endReload)
		h.changed(e.Owner, e.Handle)
	case session.EventMissed:
		for _, set := range h.streams {
			for w := range set {
				w.recheck, w.devices = true, w.owner != ""
				w.signal()
			}
		}
	}
}

// changed tells the streams of owner's other sessions that the list of
// their sessions changed. h.mu is held.
func (h *hub) changed(owner, handle string) {
	if owner == "" {
		return
	}
	for w := range h.owners[owner] {
		if w.handle != handle {
			w.devices = true
			w.signal()
		}
	}
}

// end tells the streams of handle that their session is over. h.mu is
// held.
func (h *hub) end(handle string, why int) {
	for w := range h.streams[handle] {
		if w.end == endNone {
			w.end = why
		}
		w.signal()
	}
}

func (w *watch) signal() {
	select {
	case w.wake <- struct{}{}:
	default: // a wake-up is pending already
	}
}

// state returns and clears what the stream has to act on.
func (h *hub) state(w *watch) (end int, recheck, devices bool) {
	h.mu.Lock()
	defer h.mu.Unlock()
	end, recheck, devices = w.end, w.recheck, w.devices
	w.recheck, w.devices = false, false
	return end, recheck, devices
}

// The banner texts the stream sends with "ended".
const (
	endedText   = "This session was ended from another device or tab."
	expiredText = "This session expired."
)

// events answers GET /events?h=HANDLE, which the page of the session with
// that handle opens, with a text/event-stream about the session that the
// browser's cookie names: "ended" (data: the banner's text) when it is
// destroyed or expires, or was gone already; "reload" when the page's view
// is stale (its browser logged in again, so the cookie names a newer
// session, or events were missed and the session is gone for a reason the
// stream cannot know). Either ends the stream, as do the client going
// away and the server shutting down; until then it sends "devices" when
// another session of the same user begins or ends (or events were
// missed), and a comment line every heartbeat. After a store error the stream ends at once, and
// EventSource asks again after the retry interval. A request without a
// handle, or to an instance without live updates, gets 204 No Content,
// which tells EventSource not to reconnect.
//
// It reads the session through a.peek, whose Manager never moves the idle
// deadline, and writes nothing: an open page keeps no session alive.
func (a *app) events(w http.ResponseWriter, r *http.Request) {
	want := r.URL.Query().Get("h")
	if a.live == nil || want == "" {
		w.WriteHeader(http.StatusNoContent)
		return
	}
	// Watch first, then read the session from the store itself: a change
	// before the read is in what it returns, one after it arrives as an
	// event. The client sees the headers only then, so anything it does
	// afterwards is an event.
	wt := a.live.watch(want)
	defer a.live.drop(wt)
	s, err := a.peek.Session(r) // the cookie's ID, and a first read
	end := endNone
	switch {
	case err != nil:
	case s.ID == "": // the cookie names no live session: it ended before the stream opened
		end = endEnded
	case s.Handle() != want: // the cookie names a newer session than the page shows
		end = endReload
	default:
		var gone bool
		if gone, err = a.gone(r, s.ID); gone {
			end = endEnded
		}
	}
	h := w.Header()
	h.Set("Content-Type", "text/event-stream")
	h.Set("Cache-Control", "no-store")
	h.Set("X-Accel-Buffering", "no") // nginx: do not buffer the stream
	rc := http.NewResponseController(w)
	defer func() { _ = rc.SetWriteDeadline(time.Now().Add(streamWriteTimeout)) }() // for the stream's last chunk
	send := func(lines string) bool {
		_ = rc.SetWriteDeadline(time.Now().Add(streamWriteTimeout)) // not supported: no bound
		if _, err := io.WriteString(w, lines); err != nil {
			return false
		}
		return rc.Flush() == nil
	}
	if !send("retry: 2000\n: sessiondemo live logout\n\n") {
		return
	}
	if err != nil {
		// The store failed (logged): end the stream, and EventSource
		// asks again after the retry interval.
		slog.ErrorContext(r.Context(), "sessiondemo: event stream", "instance", a.name, "err", err)
		return
	}
	if end != endNone {
		send(endEvent(end))
		return
	}
	a.live.follow(wt, s.Owner)
	every := a.heartbeat
	if every <= 0 {
		every = heartbeatInterval
	}
	tick := time.NewTicker(every)
	defer tick.Stop()
	for {
		select {
		case <-r.Context().Done(): // the client went away
			return
		case <-a.done: // the server shuts down
			return
		case <-tick.C:
			if !send(": heartbeat\n\n") {
				return
			}
		case <-wt.wake:
			end, recheck, devices := a.live.state(wt)
			if end == endNone && recheck {
				// Events were missed: the session may have ended unseen.
				gone, err := a.gone(r, s.ID)
				if err != nil {
					slog.ErrorContext(r.Context(), "sessiondemo: event stream", "instance", a.name, "err", err)
				}
				if gone {
					end = endReload // destroyed, or renewed by its browser: the page finds out
				}
			}
			if end != endNone {
				send(endEvent(end))
				return
			}
			if devices && !send(sseEvent("devices", "")) {
				return
			}
		}
	}
}

// devicesList answers GET /devices, the table rows of the home page's list
// of the user's sessions, which the page fetches again when its stream
// says "devices"; 204 No Content for a browser not logged in. Like the
// stream it reads the session without moving its idle deadline.
func (a *app) devicesList(w http.ResponseWriter, r *http.Request) {
	s, err := a.peek.Session(r)
	if err != nil {
		a.fail(w, r, err)
		return
	}
	if s.Owner == "" {
		w.WriteHeader(http.StatusNoContent)
		return
	}
	ds, err := a.devices(r, s)
	if err != nil {
		a.fail(w, r, err)
		return
	}
	render(w, r, http.StatusOK, "devices", ds)
}

// endEvent is the event that tells the page why its stream is over.
func endEvent(end int) string {
	switch end {
	case endExpired:
		return sseEvent("ended", expiredText)
	case endReload:
		return sseEvent("reload", "")
	}
	return sseEvent("ended", endedText)
}

// gone reports whether the session with that ID has ended, reading the
// store itself (no cache) without moving the idle deadline.
func (a *app) gone(r *http.Request, id string) (bool, error) {
	_, err := a.peek.Manager().GetFresh(r.Context(), id)
	if errors.Is(err, session.ErrNotFound) {
		return true, nil
	}
	return false, err
}

// sseEvent is one server-sent event; data holds no newline.
func sseEvent(name, data string) string {
	return fmt.Sprintf("event: %s\ndata: %s\n\n", name, data)
}
