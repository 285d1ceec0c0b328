package main

import (
	"context"
	"crypto/rand"
	"database/sql"
	"encoding/hex"
	"errors"
	"fmt"
	"net/url"
	"time"

	"github.com/alexedwards/scs/postgresstore"
	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"
	_ "github.com/jackc/pgx/v5/stdlib" // database/sql driver "pgx" for scs's postgresstore

	postgresbackend "github.com/sessionkit/sessionkit/backend_postgres"
)

// The PostgreSQL contenders share the server at -postgres; each gets a
// database of its own, created when it starts and dropped when it closes,
// and a pool of at most maxPostgresConns connections (PostgreSQL's default
// max_connections is 100; more connections than cores only queue on the
// server).
const maxPostgresConns = 32

// postgresConns is the pool size of both PostgreSQL contenders.
func postgresConns(e *env) int { return min(e.poolSize, maxPostgresConns) }

// newPostgresDatabase creates a database for one contender on the server
// at e.postgresURL and returns its URL and a function that drops it.
func newPostgresDatabase(e *env, tag string) (string, func(), error) {
	if e.postgresURL == "" {
		return "", nil, errors.New("no -postgres URL")
	}
	u, err := url.Parse(e.postgresURL)
	if err != nil || (u.Scheme != "postgres" && u.Scheme != "postgresql") {
		return "", nil, fmt.Errorf("-postgres %q: want a postgres:// URL", e.postgresURL)
	}
	var b [4]byte
	_, _ = rand.Read(b[:])
	name := "sessionkit_compare_" + tag + "_" + hex.EncodeToString(b[:])
	exec := func(sql string) error {
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		defer cancel()
		conn, err := pgx.Connect(ctx, e.postgresURL)
		if err != nil {
			return err
		}
		defer conn.Close(ctx)
		_, err = conn.Exec(ctx, sql)
		return err
	}
	if err := exec("CREATE DATABASE " + pgx.Identifier{name}.Sanitize()); err != nil {
		return "", nil, err
	}
	drop := func() {
		if err := exec("DROP DATABASE IF EXISTS " + pgx.Identifier{name}.Sanitize() + " WITH (FORCE)"); err != nil {
			progress("drop database %s: %v", name, err)
		}
	}
	u.Path = "/" + name
	return u.String(), drop, nil
}

// newSessionkitPostgres is session.Manager over the PostgreSQL backend:
// read = Get (one SELECT), write = Update (SELECT, then one
// compare-and-swap statement).
func newSessionkitPostgres(e *env) (contender, error) {
	dbURL, drop, err := newPostgresDatabase(e, "sessionkit")
	if err != nil {
		return nil, err
	}
	cfg, err := pgxpool.ParseConfig(dbURL)
	if err != nil {
		drop()
		return nil, err
	}
	cfg.MaxConns = int32(postgresConns(e))
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	pool, err := pgxpool.NewWithConfig(ctx, cfg)
	if err != nil {
		drop()
		return nil, err
	}
	b, err := postgresbackend.New(ctx, pool)
	if err != nil {
		pool.Close()
		drop()
		return nil, err
	}
	return newSessionkit(b, e, func() { b.Close(); pool.Close(); drop() })
}

// scsPostgresSchema is the table postgresstore's README asks for.
const scsPostgresSchema = `CREATE TABLE sessions (
	token TEXT PRIMARY KEY,
	data BYTEA NOT NULL,
	expiry TIMESTAMPTZ NOT NULL
);
CREATE INDEX sessions_expiry_idx ON sessions (expiry);`

// newSCSPostgresstore is scs/v2 with its postgresstore over database/sql
// and pgx's stdlib driver: read = Find (one SELECT), write = Find, then
// Commit (one INSERT ... ON CONFLICT DO UPDATE, overwriting blindly).
func newSCSPostgresstore(e *env) (contender, error) {
	dbURL, drop, err := newPostgresDatabase(e, "scs")
	if err != nil {
		return nil, err
	}
	db, err := sql.Open("pgx", dbURL)
	if err != nil {
		drop()
		return nil, err
	}
	db.SetMaxOpenConns(postgresConns(e))
	db.SetMaxIdleConns(postgresConns(e))
	if _, err := db.Exec(scsPostgresSchema); err != nil {
		db.Close()
		drop()
		return nil, err
	}
	// No cleanup goroutine: no session expires within a run.
	store := postgresstore.NewWithCleanupInterval(db, 0)
	return newSCS(store, func() { db.Close(); drop() }), nil
}
