package httpsession_test

import (
	"bytes"
	"encoding/json"
	"io"
	"log/slog"
	"net/http"
	"strings"
	"sync"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	memorybackend "github.com/sessionkit/sessionkit/backend_memory"
	"github.com/sessionkit/sessionkit/session"
	"github.com/sessionkit/sessionkit/session/httpsession"
)

// syncBuffer is a bytes.Buffer safe for the server's goroutines.
type syncBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (b *syncBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

func (b *syncBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}

// TestLogger: a conflict is logged at Info and a direct change of Owner at
// Warn, each with the session's Handle and never its ID; the error handler
// still runs.
func TestLogger(t *testing.T) {
	var out syncBuffer
	e := newEnv(t, httpsession.WithLogger(slog.New(slog.NewJSONHandler(&out, &slog.HandlerOptions{Level: slog.LevelDebug}))))
	e.mux.HandleFunc("POST /racy", func(w http.ResponseWriter, r *http.Request) {
		s, err := e.mw.Session(r)
		if err != nil {
			t.Error(err)
			return
		}
		if _, err := e.m.Update(r.Context(), s.ID, func(s *session.Session[Cart]) error { s.Data.N++; return nil }); err != nil {
			t.Error(err)
		}
		e.mw.Modify(r, func(c *Cart) { c.N = 99 })
		io.WriteString(w, "ok")
	})
	e.mux.HandleFunc("POST /owner", func(w http.ResponseWriter, r *http.Request) {
		s, err := e.mw.Session(r)
		if err != nil {
			t.Error(err)
			return
		}
		s.Owner = "mallory"
		io.WriteString(w, "ok")
	})
	c := e.client()
	e.do(c, "POST", "/login?user=ada")
	id := e.sessionCookie(c).Value
	s, err := e.m.Get(t.Context(), id)
	require.NoError(t, err)
	resp, _ := e.do(c, "POST", "/racy")
	assert.Equal(t, http.StatusInternalServerError, resp.StatusCode)
	resp, _ = e.do(c, "POST", "/owner")
	assert.Equal(t, http.StatusInternalServerError, resp.StatusCode)
	require.Len(t, e.errors(), 2, "the error handler ran for both")

	var got []map[string]any
	for _, line := range strings.Split(strings.TrimSpace(out.String()), "\n") {
		assert.NotContains(t, line, id, "a log record holds the session ID")
		var rec map[string]any
		require.NoError(t, json.Unmarshal([]byte(line), &rec), line)
		got = append(got, rec)
	}
	require.Len(t, got, 2, out.String())
	for i, want := range []struct{ level, msg, path string }{
		{"INFO", "httpsession: conflict", "/racy"},
		{"WARN", "httpsession: direct change of Owner refused", "/owner"},
	} {
		assert.Equal(t, want.level, got[i]["level"])
		assert.Equal(t, want.msg, got[i]["msg"])
		assert.Equal(t, want.path, got[i]["path"])
		assert.Equal(t, "POST", got[i]["method"])
		assert.Equal(t, s.Handle(), got[i]["session"])
		assert.NotEmpty(t, got[i]["error"])
	}
}

func TestLoggerNil(t *testing.T) {
	mem := memorybackend.New()
	t.Cleanup(func() { mem.Close() })
	m, err := session.NewManager[Cart](mem)
	require.NoError(t, err)
	_, err = httpsession.New(m, httpsession.WithLogger(nil))
	assert.ErrorContains(t, err, "logger is nil")
}
