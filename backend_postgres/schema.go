package postgresbackend

import (
	"context"
	"errors"
	"fmt"
	"hash/fnv"
	"strings"

	"github.com/jackc/pgx/v5"
)

// maxTableName is the longest table name WithTable accepts (without its
// schema): PostgreSQL truncates identifiers at 63 bytes, and the index names
// add up to 12 more.
const maxTableName = 48

// errBadTable is matched by the error New and Schema return for a table
// name that is not a plain lower-case identifier.
var errBadTable = errors.New("postgresbackend: invalid table name")

// table is a validated table name and the SQL it appears as.
type table struct {
	name   string // as given: "sessionkit_sessions" or "auth.sessions"
	quoted string // "auth"."sessions"
	base   string // sessions: the unqualified name, for the index names
}

// parseTable validates name as described at WithTable.
func parseTable(name string) (table, error) {
	parts := strings.Split(name, ".")
	if len(parts) > 2 {
		return table{}, fmt.Errorf("%w %q: at most one '.' (schema.table)", errBadTable, name)
	}
	for _, p := range parts {
		if err := checkIdent(p); err != nil {
			return table{}, fmt.Errorf("%w %q: %v", errBadTable, name, err)
		}
	}
	return table{
		name:   name,
		quoted: pgx.Identifier(parts).Sanitize(),
		base:   parts[len(parts)-1],
	}, nil
}

// checkIdent accepts a-z, 0-9 and '_', not starting with a digit, 1 to
// maxTableName bytes.
func checkIdent(s string) error {
	if s == "" {
		return errors.New("empty name")
	}
	if len(s) > maxTableName {
		return fmt.Errorf("longer than %d bytes", maxTableName)
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		switch {
		case c >= 'a' && c <= 'z', c == '_':
		case c >= '0' && c <= '9' && i > 0:
		default:
			return fmt.Errorf("byte %q at %d: only a-z, 0-9 (not first) and '_' are allowed", c, i)
		}
	}
	return nil
}

// Schema returns the statements that create the table named table and its
// indexes, each ending with ";", in the order they must run. They use
// IF NOT EXISTS, so running them again changes nothing. table is validated
// as WithTable describes; "" selects DefaultTable. New runs the same
// statements (under an advisory lock, in one transaction) unless
// WithCreateSchema(false) is given.
//
// One row per session: the storage key, the owner, the version, the
// payload and the three times; never a session ID. Keys and owners are
// bytea because the contract allows any bytes in them, NUL included, and
// both are indexed by their SHA-256 (the primary key is key_hash, a column
// generated from key), because a B-tree entry holds at most 2704 bytes and
// the contract allows keys and owners of 4 KiB. idle_deadline never lies
// after absolute_deadline (a CHECK constraint; every write clamps it), so a
// row is live at t exactly when t < idle_deadline, and the expiry index on
// idle_deadline finds the rows to clean up. The owner index leaves out
// anonymous rows (an empty owner), which are never listed by owner.
func Schema(table string) ([]string, error) {
	if table == "" {
		table = DefaultTable
	}
	t, err := parseTable(table)
	if err != nil {
		return nil, err
	}
	return t.schema(), nil
}

func (t table) schema() []string {
	owner := pgx.Identifier{t.base + "_owner_idx"}.Sanitize()
	expiry := pgx.Identifier{t.base + "_expiry_idx"}.Sanitize()
	return []string{
		`CREATE TABLE IF NOT EXISTS ` + t.quoted + ` (
	key               bytea       NOT NULL,
	key_hash          bytea       GENERATED ALWAYS AS (sha256(key)) STORED PRIMARY KEY,
	owner             bytea       NOT NULL,
	version           bigint      NOT NULL,
	payload           bytea       NOT NULL,
	created_at        timestamptz NOT NULL,
	idle_deadline     timestamptz NOT NULL,
	absolute_deadline timestamptz NOT NULL,
	CHECK (idle_deadline <= absolute_deadline)
) WITH (fillfactor = 80);`,
		`CREATE INDEX IF NOT EXISTS ` + owner + ` ON ` + t.quoted + ` (sha256(owner)) WHERE owner <> ''::bytea;`,
		`CREATE INDEX IF NOT EXISTS ` + expiry + ` ON ` + t.quoted + ` (idle_deadline);`,
	}
}

// lockKey is the advisory lock that serialises schema creation of one
// table across instances: concurrent CREATE TABLE IF NOT EXISTS of one name
// can otherwise fail on the catalog's unique index.
func (t table) lockKey() int64 {
	h := fnv.New64a()
	h.Write([]byte("sessionkit schema " + t.name))
	return int64(h.Sum64())
}

// createSchema runs the schema statements in one transaction holding the
// table's advisory lock.
func (b *Backend) createSchema(ctx context.Context) error {
	return pgx.BeginFunc(ctx, b.pool, func(tx pgx.Tx) error {
		if _, err := tx.Exec(ctx, `SELECT pg_advisory_xact_lock($1)`, b.t.lockKey()); err != nil {
			return err
		}
		for _, stmt := range b.t.schema() {
			if _, err := tx.Exec(ctx, stmt); err != nil {
				return err
			}
		}
		return nil
	})
}
