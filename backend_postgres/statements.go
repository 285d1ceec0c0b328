package postgresbackend

import (
	"strings"

	"github.com/sessionkit/sessionkit/backend"
)

// The statements, one per operation, with {T} for the quoted table name
// and {N} and {E} for the scalar subqueries that send the events of the
// rows the statement wrote (channel.notifyCount; its arguments are in
// newStatements): {E} the EventExpired of a row past its deadline that the
// statement replaced, {N} the others. Every record ends with one event,
// whoever removes its row: Delete, DeleteByOwner, the cleanup, or a Create
// or Rekey that reuses its key; for the last two, {D} is the CTE dead that
// reads and locks the row they may replace, and {L} makes ins read dead
// first. With events off (WithEvents(false)) {D} and {L} are empty, {E}
// is 0, and the statements are as cheap as without events. pg_notify queues the notification in the statement's
// transaction and PostgreSQL sends it at commit, so a write that fails or
// rolls back notifies nothing, and the event costs no round trip.
// Every statement that judges liveness takes the application's clock as a
// parameter ($now below); none reads the server's now(). Rows are found by
// key_hash = sha256(key) (see Schema), owners through the expression index
// on sha256(owner), whose predicate (a non-empty owner) every owner query
// repeats so that the planner can use the partial index.
//
// Parameters are numbered in the order the Go code passes them; the comment
// above each statement names them.
const (
	// $1 key, $2 owner, $3 payload, $4 created_at, $5 idle, $6 absolute,
	// $7 now. Inserts, or replaces a row that is no longer live; a live row
	// makes ins write no row. dead locks a row that is no longer live, so
	// its owner is the one ins replaces (ins reads dead first). Returns
	// how many rows it replaced (0 or 1), each with an EventExpired, and
	// how many it wrote (0 or 1), each with an EventCreated.
	sqlCreate = `WITH {D}ins AS (
	INSERT INTO {T} AS s (key, owner, version, payload, created_at, idle_deadline, absolute_deadline)
	SELECT $1::bytea, $2::bytea, 1, $3::bytea, $4::timestamptz, $5::timestamptz, $6::timestamptz
	{L}
	ON CONFLICT (key_hash) DO UPDATE SET
		key = excluded.key, owner = excluded.owner, version = 1, payload = excluded.payload,
		created_at = excluded.created_at, idle_deadline = excluded.idle_deadline,
		absolute_deadline = excluded.absolute_deadline
	WHERE s.idle_deadline <= $7::timestamptz
	RETURNING s.key, s.owner
)
SELECT {E}, {N}`

	// $1 key, $2 now.
	sqlLoad = `SELECT owner, version, payload, created_at, idle_deadline, absolute_deadline
FROM {T} WHERE key_hash = sha256($1::bytea) AND idle_deadline > $2::timestamptz`

	// $1 key, $2 now, $3 owner, $4 payload, $5 idle, $6 absolute,
	// $7 expected version. cur locks the live row and reads its newest
	// version (under READ COMMITTED a locking read waits for a concurrent
	// writer and then sees its result); upd writes only if that version is
	// the caller's. One row with upd's columns is a success; one without
	// them a conflict, with the stored row (owner and payload only then,
	// for the caller's ConflictError); no row: no live record.
	sqlUpdate = `WITH cur AS MATERIALIZED (
	SELECT version, owner, payload, created_at, idle_deadline, absolute_deadline FROM {T}
	WHERE key_hash = sha256($1::bytea) AND idle_deadline > $2::timestamptz
	FOR UPDATE
), upd AS (
	UPDATE {T} AS s SET owner = $3::bytea, payload = $4::bytea, idle_deadline = $5::timestamptz,
		absolute_deadline = $6::timestamptz, version = s.version + 1
	FROM cur
	WHERE s.key_hash = sha256($1::bytea) AND cur.version = $7::bigint
	RETURNING s.version, s.created_at
)
SELECT cur.version, upd.version, upd.created_at,
	CASE WHEN upd.version IS NULL THEN cur.owner END, CASE WHEN upd.version IS NULL THEN cur.payload END,
	cur.created_at, cur.idle_deadline, cur.absolute_deadline
FROM cur LEFT JOIN upd ON true`

	// $1 key, $2 idle, $3 now.
	sqlTouch = `UPDATE {T} SET idle_deadline = least($2::timestamptz, absolute_deadline)
WHERE key_hash = sha256($1::bytea) AND idle_deadline > $3::timestamptz`

	// $1 key, $2 now. Deletes the row, live or not: an EventDeleted for a
	// live one, an EventExpired for one past its deadline.
	sqlDelete = `WITH gone AS (
	DELETE FROM {T} WHERE key_hash = sha256($1::bytea)
	RETURNING key, owner, idle_deadline > $2::timestamptz AS live
)
SELECT {N}`

	// $1 owner, $2 now.
	sqlList = `SELECT key, version, payload, created_at, idle_deadline, absolute_deadline FROM {T}
WHERE sha256(owner) = sha256($1::bytea) AND owner = $1::bytea AND owner <> ''::bytea
	AND idle_deadline > $2::timestamptz`

	// $1 owner, $2 now. One round of DeleteByOwner: seen counts the rows of
	// the owner in the statement's snapshot, gone the rows the DELETE
	// removed. Fewer removed than seen means a row moved under the DELETE
	// (a Rekey or an Update committed meanwhile), and its successor may be
	// a row the snapshot did not show: the caller runs another round.
	// Returns seen, removed, and removed live rows; an EventDeleted for
	// each live row, an EventExpired for each other.
	sqlDeleteOwner = `WITH seen AS MATERIALIZED (
	SELECT count(*) AS n FROM {T}
	WHERE sha256(owner) = sha256($1::bytea) AND owner = $1::bytea AND owner <> ''::bytea
), gone AS (
	DELETE FROM {T}
	WHERE sha256(owner) = sha256($1::bytea) AND owner = $1::bytea AND owner <> ''::bytea
	RETURNING key, idle_deadline > $2::timestamptz AS live
)
SELECT (SELECT n FROM seen), (SELECT count(*) FROM gone), (SELECT count(*) FROM gone WHERE live), {N}`

	// $1 old key, $2 now, $3 new key, $4 owner, $5 payload, $6 created_at,
	// $7 idle, $8 absolute, $9 expected version. cur locks the old live row,
	// dead a row under the new key that is no longer live (as in Create);
	// ins creates the new key (replacing dead's row) only if the version
	// matches; del removes the old row only if ins wrote. One statement, so
	// one transaction: both keys change or neither, and an EventRekeyed
	// (after the EventExpired of dead's row) only if both did.
	sqlRekey = `WITH cur AS MATERIALIZED (
	SELECT version FROM {T}
	WHERE key_hash = sha256($1::bytea) AND idle_deadline > $2::timestamptz
	FOR UPDATE
), {D}ins AS (
	INSERT INTO {T} AS s (key, owner, version, payload, created_at, idle_deadline, absolute_deadline)
	SELECT $3::bytea, $4::bytea, 1, $5::bytea, $6::timestamptz, $7::timestamptz, $8::timestamptz
	FROM cur{L} WHERE cur.version = $9::bigint
	ON CONFLICT (key_hash) DO UPDATE SET
		key = excluded.key, owner = excluded.owner, version = 1, payload = excluded.payload,
		created_at = excluded.created_at, idle_deadline = excluded.idle_deadline,
		absolute_deadline = excluded.absolute_deadline
	WHERE s.idle_deadline <= $2::timestamptz
	RETURNING s.key, s.owner
), del AS (
	DELETE FROM {T} AS d USING (SELECT 1 FROM ins LIMIT 1) AS wrote
	WHERE d.key_hash = sha256($1::bytea)
	RETURNING 1
)
SELECT (SELECT version FROM cur), EXISTS (SELECT FROM ins), EXISTS (SELECT FROM del), {E}, {N}`

	// $1 now, $2 batch size. Deletes up to $2 rows that are not live at
	// $1, skipping rows another transaction holds (another instance's
	// cleanup, or a writer): such a row is left for the next run. The
	// locking read rechecks the deadline on the newest row version, so a
	// row touched back to life meanwhile is not deleted. Returns how many
	// rows it deleted, each with an EventExpired.
	sqlCleanup = `WITH gone AS (
	DELETE FROM {T} WHERE key_hash = ANY (ARRAY (
		SELECT key_hash FROM {T} WHERE idle_deadline <= $1::timestamptz
		LIMIT $2::int
		FOR UPDATE SKIP LOCKED
	)) AND idle_deadline <= $1::timestamptz
	RETURNING key, owner
)
SELECT {N}`
)

// statements holds the statements with the table name filled in.
type statements struct {
	create, load, update, touch, del  string
	list, deleteOwner, rekey, cleanup string
}

func newStatements(t table, c channel) statements {
	// fill replaces the placeholders; d and l are {D} and {L}.
	fill := func(s, notify, replaced, d, l string) string {
		return strings.NewReplacer("{T}", t.quoted, "{N}", notify, "{E}", replaced, "{D}", d, "{L}", l).Replace(s)
	}
	f := func(s, notify string) string { return fill(s, notify, "", "", "") }
	expired, removed := kindSQL(backend.EventExpired), `CASE WHEN live THEN `+kindSQL(backend.EventDeleted)+` ELSE `+kindSQL(backend.EventExpired)+` END`
	// reusing fills a statement that may reuse the key of a row past its
	// deadline: dead reads and locks that row (key and now are the SQL of
	// its key and of the clock), l is the FROM clause through which ins's
	// SELECT reads dead first, and the row's EventExpired is sent under
	// the key ins wrote.
	reusing := func(s, notify, key, now, l string) string {
		if c.off {
			return fill(s, notify, "0", "", "")
		}
		d := `dead AS MATERIALIZED (
	SELECT owner FROM ` + t.quoted + `
	WHERE key_hash = sha256(` + key + `) AND idle_deadline <= ` + now + `
	FOR UPDATE
), `
		replaced := c.notifyCount("(SELECT ins.key, dead.owner FROM ins, dead) AS x", expired, now, "x.key", "x.owner", "")
		return fill(s, notify, replaced, d, l)
	}
	return statements{
		create: reusing(sqlCreate, c.notifyCount("ins", kindSQL(backend.EventCreated), "$7::timestamptz", "ins.key", "ins.owner", ""),
			"$1::bytea", "$7::timestamptz", "FROM (SELECT count(*) FROM dead) AS locked"),
		load:        f(sqlLoad, ""),
		update:      f(sqlUpdate, ""),
		touch:       f(sqlTouch, ""),
		del:         f(sqlDelete, c.notifyCount("gone", removed, "$2::timestamptz", "gone.key", "gone.owner", "")),
		list:        f(sqlList, ""),
		deleteOwner: f(sqlDeleteOwner, c.notifyCount("gone", removed, "$2::timestamptz", "gone.key", "$1::bytea", "")),
		rekey: reusing(sqlRekey, c.notifyCount("(SELECT ins.key, ins.owner FROM ins, del) AS r", kindSQL(backend.EventRekeyed), "$2::timestamptz", "r.key", "r.owner", "$1::bytea"),
			"$3::bytea", "$2::timestamptz", ", (SELECT count(*) FROM dead) AS locked"),
		cleanup: f(sqlCleanup, c.notifyCount("gone", expired, "$1::timestamptz", "gone.key", "gone.owner", "")),
	}
}
