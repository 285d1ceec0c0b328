// Package conformance proves that a session store keeps the contract of
// package backend, and that a codec gives session.Manager what it needs. It
// is the promise to backend authors: if your backend passes Run, the
// Manager works on it.
//
// Call Run from a test of your backend's package, with a factory that
// returns a fresh, empty backend and registers its cleanup:
//
//	func TestConformance(t *testing.T) {
//		conformance.Run(t, func(tb testing.TB) backend.Backend {
//			b, err := mystore.Open(tb.Context(), addr)
//			if err != nil {
//				tb.Fatal(err)
//			}
//			tb.Cleanup(func() { b.Close() })
//			return b
//		})
//	}
//
//	func BenchmarkBackend(b *testing.B) {
//		conformance.Benchmark(b, newBackend)
//	}
//
// Run it with the race detector: several cases hammer one key from many
// goroutines, and a data race is a failure too.
//
//	go test -race ./...
//
// # What Run proves
//
// Run is a table of cases, one per rule of the contract, each with the
// sentence of the contract it proves (printed when it fails):
//
//   - Create, Load, Payload: every Record field round-trips; Create stores
//     version 1 whatever it is passed, and returns ErrExists without
//     touching a live record; of concurrent Creates of one key exactly one
//     wins; payloads of 0 bytes, 1 MiB and every byte value round-trip;
//     Load sees every write that returned before it began.
//   - Update: compare-and-swap on the version (ErrConflict and nothing
//     written for a stale one; a backend.ConflictError, where returned,
//     holding the stored record), version 1, 2, 3, ...; Owner, Payload
//     and deadlines written, CreatedAt kept; ErrNotFound for a missing or
//     deleted key, never recreating it; 16 goroutines × 25
//     read-modify-write increments lose nothing.
//   - Touch: ErrNotFound for a missing key; moves only IdleDeadline, never
//     the version.
//   - Delete: idempotent; the key can be created again.
//   - Expiry: a record is gone at its idle deadline and, however active,
//     at its absolute deadline; an expired record cannot be touched or
//     updated back to life, and its key can be created again.
//   - Isolation: changing a slice passed to Create or Update, or returned
//     by Create, Update, Load or ListByOwner, changes no stored record.
//   - Keys: keys with NUL, newlines, spaces, '*', '{', '}', invalid UTF-8,
//     Unicode look-alikes, and a key of 4 KiB all round-trip, and distinct
//     keys never collide.
//   - Owner (backend.OwnerIndex): ListByOwner lists exactly the live records
//     of an owner, each also Loads the same, follows Owner changes made by
//     Update, forgets deleted and expired records; DeleteByOwner counts
//     live records and leaves other owners alone; hostile owner strings;
//     records created while others list their owner are never lost.
//   - Rekey (backend.Rekeyer): moves a record; ErrConflict, ErrExists and
//     ErrNotFound write nothing; of concurrent Rekeys one wins; a
//     DeleteByOwner racing Rekeys of its owner's records leaves none alive.
//   - Fresh (backend.FreshLoader): LoadFresh sees every completed write.
//   - Events (backend.Notifier): one event per applied write (created,
//     rekeyed, deleted; one per record for DeleteByOwner), none for
//     Update, Touch or a failed write, with the record's owner and a
//     plausible At; the events of one key in write order; an expired
//     record reported when the store removes it; a subscriber whose fn
//     blocks holds up no write and no other subscriber, and every event
//     is delivered or counted by an EventMissed; Subscribe is established
//     when it returns, stops with its context, and never calls fn
//     concurrently. Each check looks only at the keys it wrote, under a
//     prefix of its own, and proves "nothing was published" by a later
//     write of the same key whose event it waits for.
//   - Errors: each condition matches its sentinel with errors.Is, and no
//     other sentinel; wrapping is fine. ErrNotDurable comes only with a
//     write that was applied, and with the stored record.
//   - Manager: session.Manager over the backend under test: the whole
//     lifecycle (Create, Get, Save, Update, Renew retires the old ID,
//     Destroy, DestroyByOwner), 2 Managers × 50 goroutines × 20 Updates
//     ending at exactly 2000, a corrupt stored payload is ErrCorrupt, an
//     ErrNotDurable write is a done write, no session ID ever reaches
//     the backend, and Manager.Subscribe reports a session's life by its
//     handle, never its ID (ErrUnsupported without a Notifier).
//   - Context: with a context already cancelled or past its deadline every
//     method returns an error matching context.Canceled or
//     context.DeadlineExceeded with errors.Is, and not a sentinel such as
//     ErrNotFound that would mislead a caller (a cancelled request must
//     not read as "logged out"). Whether a write with a done context was
//     applied is not checked.
//   - Close: calling it twice is not an error. It runs last.
//
// Cases that need a capability the backend lacks are skipped, with a
// message naming the capability. A failure names the case, the file and
// line of the check that failed, and the rule. A backend that wraps
// another by embedding it must wrap the capability methods too (they are
// promoted and bypass the wrapper); the owner and rekey cases say so when
// a capability method misses a record that Load returns.
//
// # Selecting cases
//
// Every case is a sub-test named Group/Case, so -run picks one or a group:
//
//	go test -race -run 'TestConformance/Update/Concurrent' .
//	go test -race -run 'TestConformance/Expiry' .
//
// Each case gets its own backend from the factory and a context that ends
// after 30 seconds (90 for Events/Slow); a case that hangs past that fails
// instead of blocking the run. Keys and owners carry a random suffix per
// case, so backends that share one store (one Redis, one database) work,
// as long as the factory does not empty the store: the factory is called
// concurrently for the cases that wait on deadlines. Owner/Anonymous calls
// ListByOwner("") and only checks that what it returns is anonymous and
// live; no case calls DeleteByOwner("").
//
// # Time
//
// Times are compared to the millisecond: a store may keep millisecond
// precision, and the suite uses nanosecond timestamps in a zone other than
// UTC to prove that the instant survives. The expiry cases (Expiry/*,
// Touch/Extends, Owner/Expired) use short real deadlines,
// 150 to 700 ms away, and run concurrently: Run needs about 2 seconds of
// wall time in all. A record must be gone for a Load that begins more than
// 100 ms after its deadline, and found by one that ends more than 100 ms
// before it: that is the allowance for clock skew between the test and the
// store. A machine too slow to tell (a call returning after a deadline it
// should have met) is not counted as a failure.
//
// The event checks wait up to 10 seconds for an event they expect.
// Events/Expired waits up to 10 seconds past a record's deadline for the
// store's cleanup to report it, then creates the key again: a backend
// whose cleanup runs less often (the memory backend's janitor, by
// default) passes only if it reports an expired record when a write
// replaces it. A factory can make the wait short by configuring a cleanup
// interval well under that.
//
// # Codecs
//
// RunCodec proves a codec.Codec, built in or your own (CBOR, protobuf, ...):
// a stable Name, round trips of the field types sessions carry, nil versus
// empty, errors and never panics for empty, truncated and corrupt input,
// and safe concurrent use.
package conformance
