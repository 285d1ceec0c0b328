package postgresbackend_test

import (
	"bytes"
	"context"
	"encoding/hex"
	"os/exec"
	"strings"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"

	postgresbackend "github.com/sessionkit/sessionkit/backend_postgres"
	"github.com/sessionkit/sessionkit/backend_postgres/pgtest"
	"github.com/sessionkit/sessionkit/session"
)

// TestDumpHoldsNoID: a dump of the table (COPY, and pg_dump when it is
// installed) holds the storage keys and payloads of the sessions but none
// of their IDs, in text or in the hex form bytea is dumped in.
func TestDumpHoldsNoID(t *testing.T) {
	ctx := ctxT(t, time.Minute)
	dbURL := pgtest.Database(t)
	pool := newPool(t)
	table := freshTable()
	m, err := session.NewManager[counter](newBackend(t, pool, postgresbackend.WithTable(table)))
	if err != nil {
		t.Fatal(err)
	}
	var sessions []*session.Session[counter]
	for i := range 20 {
		s, err := m.Create(ctx, "kim", counter{N: 424242 + i})
		if err != nil {
			t.Fatal(err)
		}
		sessions = append(sessions, s)
	}

	var copied bytes.Buffer
	conn, err := pool.Acquire(ctx)
	if err != nil {
		t.Fatal(err)
	}
	_, err = conn.Conn().PgConn().CopyTo(ctx, &copied, "COPY "+pgx.Identifier{table}.Sanitize()+" TO STDOUT")
	conn.Release()
	if err != nil {
		t.Fatal(err)
	}
	dumps := map[string]string{"COPY": copied.String()}
	if pgDump, err := pgtest.Binary("pg_dump"); err == nil {
		cctx, cancel := context.WithTimeout(ctx, 30*time.Second)
		out, err := exec.CommandContext(cctx, pgDump, "--dbname="+dbURL, "--table="+table, "--data-only").Output()
		cancel()
		if err != nil {
			t.Fatalf("pg_dump: %v", err)
		}
		dumps["pg_dump"] = string(out)
	} else {
		t.Logf("checked COPY only: %v", err)
	}
	for name, dump := range dumps {
		for _, s := range sessions {
			for _, form := range []string{s.ID, hex.EncodeToString([]byte(s.ID))} {
				if strings.Contains(dump, form) {
					t.Errorf("%s of the table contains session ID %s (as %q)", name, s.ID, form)
				}
			}
			// The control: the dump does hold the row, under its storage
			// key (bytea, dumped in hex).
			if !strings.Contains(dump, hex.EncodeToString([]byte(s.Handle()))) {
				t.Errorf("%s of the table lacks the storage key of a session: the check looks in the wrong place", name)
			}
		}
	}
}
