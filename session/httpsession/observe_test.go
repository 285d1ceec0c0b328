package httpsession_test

import (
	"context"
	"sync"
	"testing"

	"github.com/stretchr/testify/assert"

	"github.com/sessionkit/sessionkit/session/httpsession"
)

type requestRecorder struct {
	mu     sync.Mutex
	events []httpsession.RequestEvent
}

func (r *requestRecorder) ObserveRequest(_ context.Context, e httpsession.RequestEvent) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.events = append(r.events, e)
}

func (r *requestRecorder) take() []httpsession.RequestEvent {
	r.mu.Lock()
	defer r.mu.Unlock()
	out := r.events
	r.events = nil
	return out
}

// TestRequestObserver: each request reports whether it used its session
// and whether its response set the cookie.
func TestRequestObserver(t *testing.T) {
	rec := &requestRecorder{}
	e := newEnv(t, httpsession.WithRequestObserver(rec))
	c := e.client()
	for _, step := range []struct {
		method, path string
		want         httpsession.RequestEvent
	}{
		{"GET", "/untouched", httpsession.RequestEvent{}},
		{"GET", "/read", httpsession.RequestEvent{Touched: true}},                  // no cookie, nothing to store
		{"POST", "/inc", httpsession.RequestEvent{Touched: true, SetCookie: true}}, // a new session
		{"POST", "/inc", httpsession.RequestEvent{Touched: true}},                  // stored, same ID
		{"POST", "/login?user=ada", httpsession.RequestEvent{Touched: true, SetCookie: true}},
		{"GET", "/untouched", httpsession.RequestEvent{}},
		{"POST", "/logout", httpsession.RequestEvent{Touched: true, SetCookie: true}},
	} {
		e.do(c, step.method, step.path)
		assert.Equal(t, []httpsession.RequestEvent{step.want}, rec.take(), "%s %s", step.method, step.path)
	}
}
