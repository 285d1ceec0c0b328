// Package postgresbackend stores sessionkit sessions in PostgreSQL: a
// backend.Backend on one table, through a pgx/v5 pool, with
// compare-and-swap updates on the version. Import it with its name written
// out:
//
//	import postgresbackend "github.com/sessionkit/sessionkit/backend_postgres"
//
// It lives in a Go module of its own, so the library's go.mod never
// depends on pgx. Pick it when there is no Redis, when sessions must
// survive a restart and be backed up with the rest of the application's
// data, and for moderate request rates: every operation of the backend is
// one statement, so one round trip (a Manager's Update is two: a read and
// the compare-and-swap), and there is no cache in front of it.
//
//	pool, err := pgxpool.New(ctx, os.Getenv("DATABASE_URL"))
//	b, err := postgresbackend.New(ctx, pool) // creates the table if missing
//	defer b.Close()                         // the pool is yours to close
//	m, err := session.NewManager[Cart](b)
//
// # Table
//
// One row per session holds the storage key the Manager derived from the
// session ID (never the ID itself), the owner, the version, the payload,
// the creation time and both deadlines; see Schema for the statements, and
// WithCreateSchema(false) for teams that run their own migrations. Several
// instances, in one process or many, share one table.
//
// # Capabilities
//
// Besides backend.Backend, a *Backend implements backend.OwnerIndex (an
// index on the owner: ListByOwner and DeleteByOwner cost time in
// proportion to the sessions of that owner), backend.Rekeyer (Rekey
// moves a record to a new key in one statement) and backend.Notifier
// (lifecycle events on every instance; see Events).
//
// # Events
//
// Create, Rekey, Delete, DeleteByOwner and the cleanup send their events
// with pg_notify in the statement that writes, on one channel per table,
// "sessionkit:" and the table's name as given to WithTable (a prefix of it
// and a hash when that is longer than the 63 bytes of an identifier;
// instances must name a table alike, and two tables of one name in two
// schemas of one database need qualified names to keep their events
// apart). No statement and no round trip is added: the statement's CTE
// RETURNING the rows it wrote feeds pg_notify, and PostgreSQL sends the
// notifications when the transaction commits, so a write that fails
// (ErrExists, ErrConflict, ErrNotFound) or rolls back sends nothing. Update
// and Touch send nothing. Every record ends with one event, with its
// owner, whoever removes its row: an EventDeleted from Delete or
// DeleteByOwner of a live row, else an EventExpired, from the cleanup, from
// Delete or DeleteByOwner of a row past its deadline, or from a Create or
// Rekey that reuses the key of such a row (before its own event). Event.At
// is the writer's clock (WithClock), passed with the statement.
//
// A notification holds the kind, At, and the key, old key and owner in
// base64 (they are bytea and may hold any byte). NOTIFY takes less than
// 8000 bytes: an event that would not fit is sent without its owner
// (Owner ""), which covers keys of up to 4 KiB with a short owner and any
// key of up to 5.8 KiB; one that does not fit even so (a Rekey between keys
// of more than about 2.9 KiB each) reaches subscribers as an EventMissed
// counting one. A write never fails for the size of its event.
//
// Subscribe opens one connection of its own per subscription, outside the
// pool, and LISTENs on it; it pings an idle connection every 15 s and
// replaces a broken one (see Subscribe).
//
// Two costs come with NOTIFY. A commit that notifies takes a lock that
// serialises the commits of all notifying transactions of the server
// (PostgreSQL keeps its queue in commit order that way, and holds the lock
// until the commit is flushed), whether or not anyone listens. Measured on
// 2026-12-02 with PostgreSQL 15 on a 2-core machine shared with other
// work (so the spread is wide), a Create and a Delete of a new key from 8
// goroutines took 1.5 to 2 times as long with events as without with
// synchronous_commit off (about 0.6 ms with, 0.3 ms without), and 2 to 4
// times with it on (2 to 4.5 ms with, about 1 ms without: notifying
// commits cannot share a WAL flush); from one goroutine the difference
// was within the noise of that machine. The statements themselves do more
// (EXPLAIN ANALYZE of the prepared statements, the same day): a Create
// took about 0.14 ms of server time instead of 0.07, a Delete 0.06 instead
// of 0.03, before the commit; WithEvents(false) brings them to about 0.09
// and 0.04. Reproduce with
//
//	SESSIONKIT_REQUIRE_POSTGRES=1 go test -run '^$' -bench EventsCost -benchtime 2s -count 4 .
//	SESSIONKIT_REQUIRE_POSTGRES=1 go test -run '^$' -bench 'Conformance(EventsOff)?/Create/Serial' -count 6 .
//
// and see WithEvents(false) for deployments that do not subscribe. And a
// listening session that stops reading (its process frozen) holds back the
// server's notification queue, which when full (8 GB by default) makes
// notifying commits fail.
//
// # Time
//
// Liveness is judged by the application's clock (see WithClock), passed to
// every statement as a parameter, never by the database server's now():
// the Manager computes deadlines with the same clock, so a server whose
// clock is off cannot end sessions early or keep them late. Times are
// stored to the microsecond. A row is live while the clock is before its
// idle deadline, which every write clamps to the absolute deadline.
//
// # Expired rows
//
// A record past a deadline is never returned, and Create may reuse its
// key. Its row is deleted by a cleanup that runs in every instance on an
// interval (see WithCleanupInterval): batches of rows that are no longer
// live, locked with FOR UPDATE SKIP LOCKED, so instances share the work
// and never wait on each other or on writers. Close stops it.
//
// # Errors
//
// Conditions are reported with the sentinel errors of package backend,
// matched with errors.Is: ErrNotFound, ErrExists, ErrConflict. A database
// that cannot be reached, a connection killed mid-statement, a server
// shutting down, a deadlock or serialization failure are errors matching
// backend.ErrUnavailable that also wrap pgx's error (use errors.As for
// *pgconn.PgError); whether a write was applied is then unknown. A
// statement that failed before anything was sent is tried once more. Load,
// ListByOwner, Touch and Delete, which may run twice, are also repeated
// when the connection they ran on turns out to be broken (the server
// terminated the session or restarted), at most MaxConns+1 times in all,
// so that reads do not fail once per dead pooled connection after a
// restart; Create, Update, Rekey and DeleteByOwner are not. With a context
// that is done, methods return an error matching its error (context.Canceled
// or context.DeadlineExceeded) and no sentinel. Other server errors, such
// as a missing table, are returned wrapped without a sentinel. After Close
// every method except Close returns an error matching ErrClosed and
// backend.ErrUnavailable.
package postgresbackend
