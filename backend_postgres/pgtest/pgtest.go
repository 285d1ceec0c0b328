// Package pgtest gives tests real PostgreSQL: a fresh database on the
// machine's server for each test binary ([Database], dropped by [Main]),
// and private servers that a test may kill and restart ([StartServer]).
// Nothing is mocked. It serves the tests of postgresbackend and of
// programs built on it, such as the repository's cmd/sessiondemo, which is
// why it is not internal; it is a test helper, not part of the backend's
// API, and may change with any release.
//
// # The shared server
//
// [Main], called from TestMain, connects to the server at
// $SESSIONKIT_POSTGRES_URL, or to postgres://postgres@127.0.0.1:5432/postgres
// (the Debian package's server with trust authentication on loopback) when
// that is unset, creates a database named sessionkit_test_<random>, runs
// the tests, and drops the database (WITH (FORCE)). [Database] returns its
// URL. The user must be allowed to create databases.
//
// # Private servers
//
// [StartServer] runs initdb into a new temporary folder and starts
// postgres on a free port of 127.0.0.1 (the socket in the same folder),
// with fsync off. PostgreSQL refuses to run as root, so when the test runs
// as root both run as the user postgres, which owns the folder. The server
// is stopped by its pid in a tb.Cleanup (SIGINT, a fast shutdown, then
// SIGKILL after 10 s), and on Linux it is started with Pdeathsig, so it
// dies with a test binary that dies without running its cleanups. The
// binaries are found in /usr/lib/postgresql/<version>/bin (the newest
// version) or on PATH.
//
// # Skipping
//
// Without a reachable server, or without initdb for [StartServer], the
// test is skipped with a message that says how to get one, or fails when
// SESSIONKIT_REQUIRE_POSTGRES is 1 (.ci/run sets it, so that nothing is
// skipped silently). Every wait in this package is bounded.
package pgtest

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"flag"
	"fmt"
	"net/url"
	"os"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"
)

// Environment variables and defaults.
const (
	// URLEnv names the variable that points the tests at another server.
	// Its value is a postgres:// URL (or a key=value connection string) of
	// a database on that server; the user must be allowed to create
	// databases.
	URLEnv = "SESSIONKIT_POSTGRES_URL"
	// RequireEnv names the variable that turns a missing server into a
	// failure instead of a skip when it is "1".
	RequireEnv = "SESSIONKIT_REQUIRE_POSTGRES"
	// DefaultURL is the server used when URLEnv is unset.
	DefaultURL = "postgres://postgres@127.0.0.1:5432/postgres?sslmode=disable"
	// InstallHint is quoted in skip messages.
	InstallHint = "install and start PostgreSQL: apt-get install -y postgresql && " +
		"pg_ctlcluster --skip-systemctl-redirect $(ls /etc/postgresql) main start " +
		"(or set " + URLEnv + " to a server where this user may create databases)"
)

// connectTimeout bounds each attempt to reach the shared server.
const connectTimeout = 5 * time.Second

// Skip skips tb with the reason and InstallHint, or fails it when
// RequireEnv is "1".
func Skip(tb testing.TB, reason string) {
	tb.Helper()
	if os.Getenv(RequireEnv) == "1" {
		tb.Fatalf("pgtest: %s (%s=1, so this fails instead of skipping); %s", reason, RequireEnv, InstallHint)
	}
	tb.Skipf("pgtest: %s; %s, or set %s=1 to make this a failure", reason, InstallHint, RequireEnv)
}

// AdminURL returns the URL of the shared server: $SESSIONKIT_POSTGRES_URL
// or DefaultURL.
func AdminURL() string {
	if u := os.Getenv(URLEnv); u != "" {
		return u
	}
	return DefaultURL
}

var shared struct {
	once sync.Once
	name string // the database, once created
	url  string
	err  error
}

// ensure creates this binary's database on the first call and returns its
// URL, or why it could not.
func ensure() (string, error) {
	shared.once.Do(func() {
		name := "sessionkit_test_" + uniq()
		ctx, cancel := context.WithTimeout(context.Background(), 2*connectTimeout)
		defer cancel()
		if shared.err = adminExec(ctx, "CREATE DATABASE "+pgx.Identifier{name}.Sanitize()); shared.err != nil {
			shared.err = fmt.Errorf("no test database on %s: %w", redact(AdminURL()), shared.err)
			return
		}
		// A commit need not wait for the WAL flush in a test database: the
		// tests prove logic, not durability, and thousands of conflicting
		// writes (conformance's Manager/ConcurrentUpdate) otherwise take
		// minutes on a loaded machine. Best effort: a server that refuses
		// keeps its setting.
		_ = adminExec(ctx, "ALTER DATABASE "+pgx.Identifier{name}.Sanitize()+" SET synchronous_commit = off")
		shared.name = name
		shared.url, shared.err = withDatabase(AdminURL(), name)
	})
	return shared.url, shared.err
}

// Database returns the URL of this test binary's own database on the
// shared server, creating it on the first call. It skips tb (see Skip)
// when the server cannot be reached or the database cannot be created.
// Main drops the database.
func Database(tb testing.TB) string {
	tb.Helper()
	u, err := ensure()
	if err != nil {
		Skip(tb, err.Error())
	}
	return u
}

// ExampleURL returns the URL of this test binary's database for Example
// functions, which cannot skip: Main skips them (-test.skip) when there is
// no database, unless RequireEnv is "1".
func ExampleURL() string {
	u, _ := ensure()
	return u
}

// Main creates the test binary's database, runs the tests of m, drops the
// database, and exits with the tests' status. Call it from TestMain.
// Without a database, Example functions are skipped (they cannot call
// Skip themselves) unless RequireEnv is "1"; tests skip or fail in
// Database.
func Main(m *testing.M) {
	flag.Parse()
	if _, err := ensure(); err != nil && os.Getenv(RequireEnv) != "1" {
		skip := "^Example"
		if prev := flag.Lookup("test.skip").Value.String(); prev != "" {
			skip = prev + "|" + skip
		}
		_ = flag.Set("test.skip", skip)
		fmt.Fprintf(os.Stderr, "pgtest: %v; examples skipped; %s\n", err, InstallHint)
	}
	code := m.Run()
	if shared.name != "" {
		ctx, cancel := context.WithTimeout(context.Background(), 4*connectTimeout)
		err := adminExec(ctx, "DROP DATABASE IF EXISTS "+pgx.Identifier{shared.name}.Sanitize()+" WITH (FORCE)")
		cancel()
		if err != nil {
			fmt.Fprintf(os.Stderr, "pgtest: drop database %s: %v\n", shared.name, err)
			if code == 0 {
				code = 1
			}
		}
	}
	os.Exit(code)
}

// adminExec runs one statement on the shared server's admin database.
func adminExec(ctx context.Context, sql string) error {
	cctx, cancel := context.WithTimeout(ctx, connectTimeout)
	conn, err := pgx.Connect(cctx, AdminURL())
	cancel()
	if err != nil {
		return err
	}
	defer conn.Close(context.Background())
	_, err = conn.Exec(ctx, sql)
	return err
}

// Pool returns a pool on the database at dbURL, closed when tb ends,
// configured with the given maximum number of connections (0: pgx's
// default).
func Pool(tb testing.TB, dbURL string, maxConns int32) *pgxpool.Pool {
	tb.Helper()
	cfg, err := pgxpool.ParseConfig(dbURL)
	if err != nil {
		tb.Fatalf("pgtest: parse %s: %v", redact(dbURL), err)
	}
	if maxConns > 0 {
		cfg.MaxConns = maxConns
	}
	ctx, cancel := context.WithTimeout(tb.Context(), connectTimeout)
	defer cancel()
	pool, err := pgxpool.NewWithConfig(ctx, cfg)
	if err != nil {
		tb.Fatalf("pgtest: pool on %s: %v", redact(dbURL), err)
	}
	tb.Cleanup(pool.Close)
	return pool
}

// withDatabase returns base with its database replaced by name. base is a
// postgres:// or postgresql:// URL or a key=value connection string.
func withDatabase(base, name string) (string, error) {
	if !strings.HasPrefix(base, "postgres://") && !strings.HasPrefix(base, "postgresql://") {
		return base + " dbname=" + name, nil
	}
	u, err := url.Parse(base)
	if err != nil {
		return "", err
	}
	u.Path = "/" + name
	u.RawPath = ""
	return u.String(), nil
}

// redact hides a password in a URL for messages.
func redact(s string) string {
	u, err := url.Parse(s)
	if err != nil || u.User == nil {
		return s
	}
	return u.Redacted()
}

func uniq() string {
	var b [8]byte
	_, _ = rand.Read(b[:])
	return hex.EncodeToString(b[:])
}
