package main

import (
	"bufio"
	"context"
	"net/http"
	"net/http/httptest"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/sessionkit/sessionkit/backend"
	memorybackend "github.com/sessionkit/sessionkit/backend_memory"
	"github.com/sessionkit/sessionkit/session"
	"github.com/sessionkit/sessionkit/session/httpsession"
)

// liveWait bounds how long a test waits for an event that should come
// at once: it fails the test, it is not a measure.
const liveWait = 5 * time.Second

// startLive runs two instances of the app on one in-memory store, each
// subscribed to its events, on httptest servers, with a short heartbeat.
// It returns the apps and their base URLs.
func startLive(t *testing.T) ([]*app, []string) {
	t.Helper()
	store := memorybackend.New()
	t.Cleanup(func() { store.Close() })
	ctx, cancel := context.WithCancel(context.Background())
	t.Cleanup(cancel) // runs before the servers close: the streams end
	var apps []*app
	var urls []string
	for i := range 2 {
		a, err := newApp(store, instanceName(i), "memory", httpsession.WithSecure(false))
		require.NoError(t, err)
		require.NoError(t, a.subscribe(ctx))
		a.heartbeat = 50 * time.Millisecond
		srv := httptest.NewServer(a.handler())
		t.Cleanup(srv.Close)
		apps, urls = append(apps, a), append(urls, srv.URL+"/")
	}
	return apps, urls
}

// sseMsg is one message of an event stream: an event, or a comment
// (Event ":") such as a heartbeat.
type sseMsg struct{ Event, Data string }

// sseStream is an open GET /events of one browser.
type sseStream struct {
	t      *testing.T
	resp   *http.Response
	msgs   chan sseMsg // closed at the end of the stream
	cancel context.CancelFunc
}

// openStream opens the event stream of the page with handle h on base,
// with b's cookies. The stream is closed when the test ends.
func openStream(t *testing.T, b *client, base, h string) *sseStream {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	req, err := http.NewRequestWithContext(ctx, "GET", base+"events?h="+url.QueryEscape(h), nil)
	require.NoError(t, err)
	req.Header.Set("Accept", "text/event-stream")
	resp, err := (&http.Client{Jar: b.c.Jar}).Do(req) // no timeout: the stream stays open
	require.NoError(t, err)
	s := &sseStream{t: t, resp: resp, msgs: make(chan sseMsg, 64), cancel: cancel}
	t.Cleanup(s.close)
	go s.read()
	return s
}

func (s *sseStream) close() {
	s.cancel()
	s.resp.Body.Close()
}

// read parses the stream into s.msgs. A message that does not fit is
// dropped; the tests read far fewer.
func (s *sseStream) read() {
	defer close(s.msgs)
	sc := bufio.NewScanner(s.resp.Body)
	var m sseMsg
	for sc.Scan() {
		line := sc.Text()
		switch {
		case line == "":
			if m != (sseMsg{}) {
				select {
				case s.msgs <- m:
				default:
				}
			}
			m = sseMsg{}
		case strings.HasPrefix(line, ":"):
			m = sseMsg{Event: ":", Data: strings.TrimSpace(line[1:])}
		case strings.HasPrefix(line, "event: "):
			m.Event = line[len("event: "):]
		case strings.HasPrefix(line, "data: "):
			m.Data = line[len("data: "):]
		}
	}
}

// next returns the next event that is not a comment nor "devices", or
// fails the test if none comes within liveWait.
func (s *sseStream) next() sseMsg {
	s.t.Helper()
	return s.nextOf(":", "devices")
}

// devices waits for the next "devices" event.
func (s *sseStream) devices() {
	s.t.Helper()
	require.Equal(s.t, sseMsg{"devices", ""}, s.nextOf(":"))
}

// nextOf returns the next event not named in skip.
func (s *sseStream) nextOf(skip ...string) sseMsg {
	s.t.Helper()
	deadline := time.After(liveWait)
	for {
		select {
		case m, ok := <-s.msgs:
			if !ok {
				s.t.Fatal("the event stream ended without an event")
			}
			if !slices.Contains(skip, m.Event) {
				return m
			}
		case <-deadline:
			s.t.Fatalf("no event within %v", liveWait)
		}
	}
}

// quiet checks that the stream stays open and sends comments only, until
// n heartbeats came.
func (s *sseStream) quiet(n int) {
	s.t.Helper()
	deadline := time.After(liveWait)
	for seen := 0; seen < n; {
		select {
		case m, ok := <-s.msgs:
			require.True(s.t, ok, "the stream stays open")
			require.Equal(s.t, ":", m.Event, "comments only, not %v", m)
			if m.Data == "heartbeat" {
				seen++
			}
		case <-deadline:
			s.t.Fatalf("%d of %d heartbeats within %v", seen, n, liveWait)
		}
	}
}

// none checks that the stream has sent no event so far, but "devices".
func (s *sseStream) none() {
	s.t.Helper()
	for {
		select {
		case m, ok := <-s.msgs:
			require.True(s.t, ok, "the stream is open")
			require.Contains(s.t, []string{":", "devices"}, m.Event, "no event yet, not %v", m)
		default:
			return
		}
	}
}

// ended checks that the stream ends with no further event.
func (s *sseStream) ended() {
	s.t.Helper()
	deadline := time.After(liveWait)
	for {
		select {
		case m, ok := <-s.msgs:
			if !ok {
				return
			}
			require.Contains(s.t, []string{":", "devices"}, m.Event, "the stream ends after its event, not with %v", m)
		case <-deadline:
			s.t.Fatalf("the stream did not end within %v", liveWait)
		}
	}
}

func TestLiveLogoutThisDevice(t *testing.T) {
	_, urls := startLive(t)
	a, b := urls[0], urls[1]
	laptop, phone := newBrowser(t), newBrowser(t)
	laptop.post(a, "/login", url.Values{"name": {"ada"}})
	phone.post(b, "/login", url.Values{"name": {"ada"}})
	phoneHandle, laptopHandle := phone.whoami(b).Handle, laptop.whoami(a).Handle

	phoneStream := openStream(t, phone, b, phoneHandle)
	laptopStream := openStream(t, laptop, b, laptopHandle)
	phoneStream.quiet(1) // open and watching: a heartbeat came after the check
	_, page := laptop.post(a, "/revoke", url.Values{"handle": {phoneHandle}})
	require.Contains(t, page, "That device is logged out")

	assert.Equal(t, sseMsg{"ended", endedText}, phoneStream.next(), "the phone's page on B hears of it")
	phoneStream.ended()
	laptopStream.devices() // its list of sessions lost the phone
	laptopStream.quiet(3)  // the laptop's session goes on
}

func TestLiveLogoutEverywhere(t *testing.T) {
	apps, urls := startLive(t)
	a, b := urls[0], urls[1]
	laptop, phone, bob := newBrowser(t), newBrowser(t), newBrowser(t)
	laptop.post(a, "/login", url.Values{"name": {"ada"}})
	phone.post(b, "/login", url.Values{"name": {"ada"}})
	bob.post(b, "/login", url.Values{"name": {"bob"}})
	streams := []*sseStream{
		openStream(t, phone, b, phone.whoami(b).Handle),
		openStream(t, phone, a, phone.whoami(a).Handle), // a second tab, on the other instance
		openStream(t, laptop, b, laptop.whoami(b).Handle),
	}
	bobStream := openStream(t, bob, a, bob.whoami(a).Handle)
	for _, s := range streams {
		s.quiet(1)
	}
	assert.Equal(t, 2, apps[0].live.open())
	assert.Equal(t, 2, apps[1].live.open())

	_, page := laptop.post(a, "/logout-everywhere", nil)
	require.Contains(t, page, "2 sessions ended")
	for _, s := range streams {
		assert.Equal(t, sseMsg{"ended", endedText}, s.next())
		s.ended()
	}
	bobStream.quiet(3) // another user's session goes on
	// Bob's stream is on A.
	for i, want := range []int{1, 0} {
		assert.Eventually(t, func() bool { return apps[i].live.open() == want }, liveWait, 5*time.Millisecond, "streams left on %s", apps[i].name)
	}
}

// A session ended right after its stream's headers arrived is "ended",
// never missed and never "reload": the stream watches before it reads.
func TestLiveEndedAtOnce(t *testing.T) {
	_, urls := startLive(t)
	laptop := newBrowser(t)
	laptop.post(urls[0], "/login", url.Values{"name": {"ada"}})
	for range 20 {
		phone := newBrowser(t)
		phone.post(urls[1], "/login", url.Values{"name": {"ada"}})
		h := phone.whoami(urls[1]).Handle
		s := openStream(t, phone, urls[1], h)
		laptop.post(urls[0], "/revoke", url.Values{"handle": {h}})
		require.Equal(t, sseMsg{"ended", endedText}, s.next())
		s.ended()
	}
}

// A page's list of the user's sessions is told when another session of
// the user begins or ends, on any instance, and GET /devices has its new
// rows; other users' sessions do not count.
func TestLiveDevices(t *testing.T) {
	_, urls := startLive(t)
	a, b := urls[0], urls[1]
	laptop, phone, bob := newBrowser(t), newBrowser(t), newBrowser(t)
	laptop.post(a, "/login", url.Values{"name": {"ada"}})
	s := openStream(t, laptop, a, laptop.whoami(a).Handle)
	s.quiet(1)

	bob.post(b, "/login", url.Values{"name": {"bob"}})
	s.quiet(2) // another user
	phone.post(b, "/login", url.Values{"name": {"ada"}})
	s.devices()
	phoneHandle := phone.whoami(b).Handle
	code, rows := laptop.get(a, "/devices")
	require.Equal(t, http.StatusOK, code)
	assert.Contains(t, rows, `value="`+phoneHandle+`"`, "the phone's row")
	assert.Equal(t, 1, strings.Count(rows, "(this one)"))
	assert.Equal(t, 2, strings.Count(rows, "Log out this device"))
	assert.NotContains(t, rows, "<html", "rows only")

	phone.post(b, "/logout", nil)
	s.devices()
	_, rows = laptop.get(a, "/devices")
	assert.NotContains(t, rows, phoneHandle)
	s.quiet(1)

	resp, _ := phone.do("GET", b, "/devices")
	assert.Equal(t, http.StatusNoContent, resp.StatusCode, "not logged in")
}

// A stream for no session: 204 for a visitor without one (EventSource
// does not reconnect), "ended" for a page whose session is gone already.
func TestLiveAnonymous(t *testing.T) {
	_, urls := startLive(t)
	anon := newBrowser(t)
	resp, body := anon.do("GET", urls[0], "/events")
	assert.Equal(t, http.StatusNoContent, resp.StatusCode, body)
	assert.Empty(t, resp.Header.Values("Set-Cookie"), "no session for a stream")
	assert.Zero(t, anon.cookies(urls[0]))

	_, page := anon.get(urls[0], "/")
	assert.NotContains(t, page, "EventSource", "a page without a stored session opens no stream")

	ada := newBrowser(t)
	ada.post(urls[0], "/login", url.Values{"name": {"ada"}})
	resp, body = ada.do("GET", urls[0], "/events")
	assert.Equal(t, http.StatusNoContent, resp.StatusCode, "a stream is for a page, which names its handle: %s", body)
	h := ada.whoami(urls[0]).Handle
	ada.post(urls[1], "/logout", nil)
	s := openStream(t, ada, urls[1], h)
	assert.Equal(t, sseMsg{"ended", endedText}, s.next(), "the page's session ended before its stream opened")
	s.ended()
}

// A renewal is this browser's own login (only the holder of an ID can
// renew it): the page of the old session reloads, it is not told that it
// was logged out.
func TestLiveRenewedReloads(t *testing.T) {
	_, urls := startLive(t)
	br := newBrowser(t)
	br.post(urls[0], "/inc", nil) // an anonymous session with a counter
	h := br.whoami(urls[0]).Handle
	require.NotEmpty(t, h)
	_, page := br.get(urls[1], "/")
	assert.Contains(t, page, `EventSource("/events?h=`+h+`")`, "a stored session's page opens its stream")

	s := openStream(t, br, urls[1], h)
	s.quiet(1)
	br.post(urls[0], "/login", url.Values{"name": {"ada"}}) // in another tab
	assert.Equal(t, sseMsg{"reload", ""}, s.next())
	s.ended()

	// A page rendered before the login, opening its stream after it.
	s = openStream(t, br, urls[1], h)
	assert.Equal(t, sseMsg{"reload", ""}, s.next())
	s.ended()
}

// A stream whose client goes away ends, and leaves nothing registered.
func TestLiveClientGoes(t *testing.T) {
	apps, urls := startLive(t)
	br := newBrowser(t)
	br.post(urls[0], "/login", url.Values{"name": {"ada"}})
	var streams []*sseStream
	for range 5 {
		streams = append(streams, openStream(t, br, urls[0], br.whoami(urls[0]).Handle))
	}
	for _, s := range streams {
		s.quiet(1)
	}
	require.Equal(t, 5, apps[0].live.open())
	for _, s := range streams {
		s.close()
	}
	assert.Eventually(t, func() bool { return apps[0].live.open() == 0 }, liveWait, 5*time.Millisecond, "every stream's handler returned")
}

// The demo's Ctrl-C ends the open streams, so that the servers shut down
// at once and run returns no error.
func TestLiveShutdown(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	urlc, done := make(chan []string, 1), make(chan error, 1)
	go func() {
		done <- run(ctx, config{Addrs: []string{"127.0.0.1:0", "127.0.0.1:0"}}, func(urls []string) { urlc <- urls })
	}()
	var urls []string
	select {
	case urls = <-urlc:
	case err := <-done:
		t.Fatalf("run: %v", err)
	case <-time.After(liveWait):
		t.Fatal("the demo did not start")
	}
	br := newBrowser(t)
	br.post(urls[0], "/login", url.Values{"name": {"ada"}})
	s := openStream(t, br, urls[1], br.whoami(urls[1]).Handle)
	_, page := br.get(urls[1], "/")
	require.Contains(t, page, "EventSource", "run subscribes each instance")
	start := time.Now()
	cancel()
	select {
	case err := <-done:
		assert.NoError(t, err)
		assert.Less(t, time.Since(start), shutdownTimeout, "the stream did not hold up the shutdown")
	case <-time.After(2 * shutdownTimeout):
		t.Fatal("run did not return")
	}
	s.ended()
}

// Events missed (the store's buffer overflowed, or a reconnect) make
// each stream read its session again: one that ended unseen reloads the
// page, one that lives goes on.
func TestLiveMissed(t *testing.T) {
	a, base := newUnsubscribedApp(t)

	gone, stays := newBrowser(t), newBrowser(t)
	gone.post(base, "/login", url.Values{"name": {"ada"}})
	stays.post(base, "/login", url.Values{"name": {"bob"}})
	gs := openStream(t, gone, base, gone.whoami(base).Handle)
	ss := openStream(t, stays, base, stays.whoami(base).Handle)
	gs.quiet(1)
	ss.quiet(1)
	gone.post(base, "/logout", nil) // no event reaches the hub
	gs.quiet(2)

	a.live.publish(session.Event{Kind: session.EventMissed, Missed: 3})
	assert.Equal(t, sseMsg{"reload", ""}, gs.next())
	gs.ended()
	ss.devices() // its list may have missed a change too
	ss.quiet(3)
}

// A store without events: the app runs, its pages open no stream, and
// /events answers 204, so that no browser keeps asking.
func TestLiveWithoutNotifier(t *testing.T) {
	store := memorybackend.New()
	t.Cleanup(func() { store.Close() })
	var plain struct{ backend.Backend } // the Backend methods only
	plain.Backend = store
	a, err := newApp(plain, "A", "memory", httpsession.WithSecure(false))
	require.NoError(t, err)
	require.ErrorIs(t, a.subscribe(context.Background()), session.ErrUnsupported)
	srv := httptest.NewServer(a.handler())
	t.Cleanup(srv.Close)
	base := srv.URL + "/"

	br := newBrowser(t)
	code, page := br.post(base, "/inc", nil)
	require.Equal(t, http.StatusOK, code, page)
	assert.NotContains(t, page, "EventSource")
	resp, _ := br.do("GET", base, "/events?h="+br.whoami(base).Handle)
	assert.Equal(t, http.StatusNoContent, resp.StatusCode)
}

// The stream reads the session without moving its idle deadline, so an
// open page keeps no session alive; the page's Manager does move it
// (the control).
func TestPeekManagerDoesNotTouch(t *testing.T) {
	var mu sync.Mutex
	now := time.Date(2026, 1, 1, 12, 0, 0, 0, time.UTC)
	clock := func() time.Time { mu.Lock(); defer mu.Unlock(); return now }
	advance := func(d time.Duration) { mu.Lock(); now = now.Add(d); mu.Unlock() }
	store := memorybackend.New(memorybackend.WithClock(clock))
	t.Cleanup(func() { store.Close() })
	opts := []session.Option{session.WithIdleTimeout(idleTimeout), session.WithAbsoluteTimeout(absoluteTimeout), session.WithClock(clock)}
	m, err := session.NewManager[Account](store, opts...)
	require.NoError(t, err)
	peek, err := newPeekManager(store, opts...)
	require.NoError(t, err)
	ctx := context.Background()
	s, err := m.Create(ctx, "ada", Account{Name: "ada"})
	require.NoError(t, err)
	idle := s.IdleDeadline

	for _, d := range []time.Duration{idleTimeout / 2, idleTimeout/2 - time.Millisecond} { // all but a millisecond of the idle timeout
		advance(d)
		p, err := peek.GetFresh(ctx, s.ID)
		require.NoError(t, err)
		assert.Equal(t, idle, p.IdleDeadline)
		rec, err := store.Load(ctx, s.Handle())
		require.NoError(t, err)
		assert.Equal(t, idle, rec.IdleDeadline, "the peek Manager did not touch it")
	}
	got, err := m.Get(ctx, s.ID)
	require.NoError(t, err)
	assert.True(t, got.IdleDeadline.After(idle), "the control: the page's Manager moves it")
	advance(time.Millisecond)
	_, err = peek.Get(ctx, s.ID)
	assert.NoError(t, err, "alive: the control moved the deadline")
}

// Publishing never waits for a stream: a stream that reads nothing keeps
// one slot, whatever the number of events, and reads the first end.
func TestHubNeverBlocks(t *testing.T) {
	h := newHub()
	w := h.watch("phone")
	h.follow(w, "ada")
	done := make(chan struct{})
	go func() {
		defer close(done)
		for i := range 100_000 {
			h.publish(session.Event{Kind: session.EventCreated, Owner: "ada", Handle: strconv.Itoa(i)})
			h.publish(session.Event{Kind: session.EventMissed})
		}
		h.publish(session.Event{Kind: session.EventExpired, Handle: "phone"})
		h.publish(session.Event{Kind: session.EventDestroyed, Handle: "phone", Owner: "ada"})
	}()
	select {
	case <-done:
	case <-time.After(liveWait):
		t.Fatal("publish blocked")
	}
	assert.Len(t, w.wake, 1, "one wake-up pending")
	end, recheck, devices := h.state(w)
	assert.Equal(t, endExpired, end, "the first end stays")
	assert.True(t, recheck)
	assert.True(t, devices)
	h.drop(w)
	assert.Zero(t, h.open())
	assert.Empty(t, h.owners)
}

// An expiry ends the page's stream with its own text.
func TestLiveExpired(t *testing.T) {
	a, base := newUnsubscribedApp(t)
	br := newBrowser(t)
	br.post(base, "/login", url.Values{"name": {"ada"}})
	h := br.whoami(base).Handle
	s := openStream(t, br, base, h)
	s.quiet(1)
	a.live.publish(session.Event{Kind: session.EventExpired, Handle: h})
	assert.Equal(t, sseMsg{"ended", expiredText}, s.next())
	s.ended()
}

// newUnsubscribedApp serves one instance on memory whose hub is not
// subscribed to the store, so that the test publishes its events, with
// heartbeats every 50 ms; it returns the app and its base URL.
func newUnsubscribedApp(t *testing.T) (*app, string) {
	t.Helper()
	store := memorybackend.New()
	t.Cleanup(func() { store.Close() })
	a, err := newApp(store, "A", "memory", httpsession.WithSecure(false))
	require.NoError(t, err)
	a.live, a.heartbeat = newHub(), 50*time.Millisecond
	srv := httptest.NewServer(a.handler())
	t.Cleanup(srv.Close)
	return a, srv.URL + "/"
}
