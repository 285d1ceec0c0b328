// Package memorybackend is an in-process session store: a backend.Backend
// that keeps records in sharded maps in memory. Import it with its name
// written out:
//
//	import memorybackend "github.com/sessionkit/sessionkit/backend_memory"
//
// Use it for a single process, for development and for tests. Records do not
// survive a restart and are not shared between processes; for a fleet of
// instances use a shared store such as the Redis backend.
//
//	b := memorybackend.New()
//	defer b.Close()
//	m, err := session.NewManager[Cart](b)
//
// # Capabilities
//
// Besides backend.Backend, a *Backend implements backend.OwnerIndex (list
// and delete the sessions of one owner) and backend.Rekeyer (move a record
// to a new key atomically).
//
// # Concurrency and expiry
//
// Records are spread over shards by a hash of their key; each shard has its
// own read-write lock and there is no global lock, so readers never wait
// for each other and a writer holds up only the keys of its own shard. A
// record is never returned at or past one of its deadlines: every
// operation checks the deadlines against the clock (see WithClock). A
// background janitor (see WithJanitorInterval) removes expired records, so
// memory does not grow with sessions nobody comes back for.
//
// Payloads are copied on the way in and on the way out: a caller can never
// modify stored bytes or see another caller's slice.
//
// # Errors
//
// Conditions are reported with the sentinel errors of package backend,
// matched with errors.Is. A context that is already done makes a method
// return its error, wrapped. After Close every method except Close returns
// an error matching both ErrClosed and backend.ErrUnavailable.
package memorybackend
