package conformance

import "time"

// cases returns the suite, one row per rule of the backend contract, in the
// order Run runs them. Close/Twice comes last.
func cases() []testCase {
	return []testCase{
		// Create
		{name: "Create/Fields", check: checkCreateFields,
			rule: "Create stores rec under rec.Key; the returned Record is what was stored, and Load returns every field (times to the millisecond, in any time zone)."},
		{name: "Create/Version", check: checkCreateVersion,
			rule: "Create ignores rec.Version and stores version 1."},
		{name: "Create/Exists", check: checkCreateExists,
			rule: "Create must return an error matching ErrExists if a live record has the key, and then must not change that record."},
		{name: "Create/Concurrent", check: checkCreateConcurrent,
			rule: "Of many concurrent Creates of one new key exactly one succeeds; the others return ErrExists."},

		// Load
		{name: "Load/NotFound", check: checkLoadNotFound,
			rule: "Load must return an error matching ErrNotFound if there is no record under the key."},
		{name: "Load/ReadYourWrites", check: checkLoadReadYourWrites,
			rule: "Load returns the live record stored under key: it sees every Create, Update, Touch and Delete that returned before it began."},

		// Payloads
		{name: "Payload/Empty", check: checkPayloadEmpty,
			rule: "Payload is opaque bytes: an empty or nil payload round-trips as a payload of length 0."},
		{name: "Payload/Large", check: checkPayloadLarge,
			rule: "Payload is opaque bytes: a payload of 1 MiB round-trips through Create, Update and Load."},
		{name: "Payload/AllBytes", check: checkPayloadAllBytes,
			rule: "Payload is opaque bytes: every byte value 0..255, invalid UTF-8 and protocol-like bytes round-trip."},

		// Update
		{name: "Update/Version", check: checkUpdateVersion,
			rule: "Version is 1 on Create and +1 on every successful Update; Update returns what was stored."},
		{name: "Update/CAS", check: checkUpdateCAS,
			rule: "Update must return an error matching ErrConflict if rec.Version differs from the stored version; nothing is written."},
		{name: "Update/ConflictRecord", check: checkUpdateConflictRecord,
			rule: "An Update that conflicts may return a *ConflictError; its Current is then the stored record (version, owner, payload, deadlines, CreatedAt), read from the store itself, with a Payload the caller owns."},
		{name: "Update/Fields", check: checkUpdateFields,
			rule: "Update writes Owner, Payload and both deadlines and keeps CreatedAt; the returned Record is what was stored."},
		{name: "Update/NotFound", check: checkUpdateNotFound,
			rule: "Update must return an error matching ErrNotFound if no live record has the key; a missing record is never recreated."},
		{name: "Update/Deleted", check: checkUpdateDeleted,
			rule: "Update of a deleted key returns ErrNotFound and never recreates it."},
		{name: "Update/Concurrent", check: checkUpdateConcurrent,
			rule: "Update is compare-and-swap: no lost updates under concurrent read-modify-write writers; each version is produced by exactly one Update."},
		{name: "Update/DeleteRace", check: checkUpdateDeleteRace,
			rule: "A record deleted while others update it stays deleted: Update never recreates a missing record."},

		// Touch
		{name: "Touch/NotFound", check: checkTouchNotFound,
			rule: "Touch must return an error matching ErrNotFound if no live record has the key, and never creates one."},
		{name: "Touch/KeepsVersion", check: checkTouchKeepsVersion,
			rule: "Touch moves the idle deadline of the record without changing its version or any other field."},
		{name: "Touch/Extends", check: checkTouchExtends, slow: true,
			rule: "Touch moves the idle deadline: the record lives past its old idle deadline and ends at the new one."},

		// Delete
		{name: "Delete/Removes", check: checkDeleteRemoves,
			rule: "Delete removes the record under key, and no other."},
		{name: "Delete/Idempotent", check: checkDeleteIdempotent,
			rule: "Deleting a missing key is not an error: Delete twice, and Delete of a key never created, return nil."},
		{name: "Delete/Recreate", check: checkDeleteRecreate,
			rule: "After Delete the key is new again: Create stores a fresh record at version 1."},

		// Expiry
		{name: "Expiry/Idle", check: checkExpiryIdle, slow: true,
			rule: "IdleDeadline is the instant after which the record must never be returned; Load returns ErrNotFound."},
		{name: "Expiry/Absolute", check: checkExpiryAbsolute, slow: true,
			rule: "AbsoluteDeadline is the instant the session ends whatever its activity: Touch keeps it alive until then, not after."},
		{name: "Expiry/NoResurrection", check: checkExpiryNoResurrection, slow: true,
			rule: "An expired record is gone: Touch, Update (and Rekey) return ErrNotFound and do not bring it back."},
		{name: "Expiry/CreateAfter", check: checkExpiryCreateAfter, slow: true,
			rule: "Only a live record makes Create return ErrExists: a key whose record expired can be created again."},

		// Isolation
		{name: "Isolation/CreateInput", check: checkIsolationCreateInput,
			rule: "A Backend must copy Record.Payload on the way in: the caller may reuse the slice passed to Create once the call returns."},
		{name: "Isolation/UpdateInput", check: checkIsolationUpdateInput,
			rule: "A Backend must copy Record.Payload on the way in: the caller may reuse the slice passed to Update once the call returns."},
		{name: "Isolation/CreateResult", check: checkIsolationCreateResult,
			rule: "A Backend must return a Payload the caller may modify without affecting the stored record (Create)."},
		{name: "Isolation/UpdateResult", check: checkIsolationUpdateResult,
			rule: "A Backend must return a Payload the caller may modify without affecting the stored record (Update)."},
		{name: "Isolation/LoadResult", check: checkIsolationLoadResult,
			rule: "A Backend must return a Payload the caller may modify without affecting the stored record or other callers (Load)."},

		// Keys
		{name: "Keys/Hostile", check: checkKeysHostile,
			rule: "Backends must accept any non-empty key, including binary bytes and characters special to the store; distinct keys never collide."},
		{name: "Keys/Long", check: checkKeysLong,
			rule: "Backends must accept any non-empty key, including one of 4 KiB."},

		// OwnerIndex
		{name: "Owner/List", check: checkOwnerList, needs: capOwnerIndex,
			rule: "ListByOwner returns exactly the live records whose Owner is owner; each also Loads with the same fields."},
		{name: "Owner/Empty", check: checkOwnerEmpty, needs: capOwnerIndex,
			rule: "ListByOwner returns an empty slice if there are none; DeleteByOwner then reports 0."},
		{name: "Owner/Deleted", check: checkOwnerDeleted, needs: capOwnerIndex,
			rule: "ListByOwner never returns a deleted record."},
		{name: "Owner/Expired", check: checkOwnerExpired, needs: capOwnerIndex, slow: true,
			rule: "ListByOwner never returns an expired record, and DeleteByOwner counts live records only."},
		{name: "Owner/FollowsUpdate", check: checkOwnerFollowsUpdate, needs: capOwnerIndex,
			rule: "ListByOwner must follow Owner changes made by Update: the old owner no longer lists the record, the new one does."},
		{name: "Owner/Anonymous", check: checkOwnerAnonymous, needs: capOwnerIndex,
			rule: "Owner is \"\" when anonymous: Update from \"\" to an owner (log in) and back (log out) moves the record in and out of the owner's list."},
		{name: "Owner/DeleteByOwner", check: checkOwnerDeleteByOwner, needs: capOwnerIndex,
			rule: "DeleteByOwner deletes every record whose Owner is owner, reports how many live records it deleted, and leaves other owners alone."},
		{name: "Owner/Hostile", check: checkOwnerHostile, needs: capOwnerIndex,
			rule: "Owners are arbitrary strings: binary, special characters and near-identical owners never mix."},
		{name: "Owner/Isolation", check: checkOwnerIsolation, needs: capOwnerIndex,
			rule: "A Backend must return Payloads the caller may modify without affecting the stored records (ListByOwner)."},
		{name: "Owner/CreateListRace", check: checkOwnerCreateListRace, needs: capOwnerIndex,
			rule: "ListByOwner never loses a live record: records created while others list their owner are all listed afterwards, and DeleteByOwner deletes them all."},

		// Rekeyer
		{name: "Rekey/Moves", check: checkRekeyMoves, needs: capRekeyer,
			rule: "Rekey stores rec under newKey (version 1, like Create) and deletes the record under rec.Key; it returns the new record."},
		{name: "Rekey/Conflict", check: checkRekeyConflict, needs: capRekeyer,
			rule: "Rekey must return ErrConflict if the stored version of rec.Key differs from rec.Version; nothing is written."},
		{name: "Rekey/Exists", check: checkRekeyExists, needs: capRekeyer,
			rule: "Rekey must return ErrExists if newKey is taken; nothing is written."},
		{name: "Rekey/NotFound", check: checkRekeyNotFound, needs: capRekeyer,
			rule: "Rekey must return ErrNotFound if rec.Key has no live record; nothing is written."},
		{name: "Rekey/Concurrent", check: checkRekeyConcurrent, needs: capRekeyer,
			rule: "Rekey moves a record in one step: of concurrent Rekeys of one record exactly one succeeds."},
		{name: "Rekey/Owner", check: checkRekeyOwner, needs: capRekeyer | capOwnerIndex,
			rule: "The owner index follows Rekey: the new key is listed, the old one is not, under the Owner passed to Rekey."},
		{name: "Rekey/DeleteByOwnerRace", check: checkOwnerRekeyDeleteRace, needs: capRekeyer | capOwnerIndex,
			rule: "DeleteByOwner ends every record of the owner, also those Rekey moves while it runs: once both returned, each Rekey either came first and its new record is deleted, or it returned ErrNotFound."},

		// FreshLoader
		{name: "Fresh/ReadYourWrites", check: checkFreshReadYourWrites, needs: capFreshLoader,
			rule: "LoadFresh reads from the authoritative store, so it sees every write that completed before it began."},
		{name: "Fresh/NotFound", check: checkFreshNotFound, needs: capFreshLoader,
			rule: "LoadFresh is Load without any cache: ErrNotFound for a missing key."},

		// Notifier
		{name: "Events/PerWrite", check: checkEventsPerWrite, needs: capNotifier,
			rule: "A subscriber receives one event per applied write of a record: EventCreated for Create, EventRekeyed (Key the new key, OldKey the old) for Rekey, EventDeleted for Delete and one per record for DeleteByOwner, each with the record's Owner and an At within a minute of the write; Update and Touch publish nothing."},
		{name: "Events/NoneForFailed", check: checkEventsNoneForFailed, needs: capNotifier,
			rule: "A write that fails publishes nothing: Create of a live key (ErrExists), Update and Rekey with a stale version (ErrConflict), Rekey to a taken key (ErrExists), Update, Touch and Rekey of a missing key (ErrNotFound); nor does a Delete that finds no live record."},
		{name: "Events/Order", check: checkEventsOrder, needs: capNotifier,
			rule: "The events of one key arrive in the order of its writes, an EventRekeyed being an event of both its keys: 21 rounds of Create and Delete of one key, and a chain of 10 Rekeys then a Delete, each key seeing the Rekey into it before the one out of it."},
		{name: "Events/Expired", check: checkEventsExpired, needs: capNotifier, slow: true,
			rule: "A record that passes its deadline ends with an EventExpired of its key (Owner the record's or empty) when the store removes it: by its cleanup within 10 seconds of the deadline while its key is read every 100 ms, or at the latest when a Create reuses the key, before that Create's EventCreated."},
		{name: "Events/Slow", check: checkEventsSlow, needs: capNotifier, timeout: 90 * time.Second,
			rule: "A write never waits for fn: 2500 Creates and Deletes of distinct keys by 8 writers all return while one subscriber's fn is blocked (none stalls for 10 s); a second subscriber meanwhile receives or is told of every event (delivered plus the Missed of its EventMissed equals the events written, or exceeds them where other keys' events were delivered too; Missed never 0), and so does the blocked one once released; no event is delivered twice, and no fn is called again while a call of it is still running."},
		{name: "Events/Subscribe", check: checkEventsSubscribe, needs: capNotifier,
			rule: "Subscribe returns once the subscription is established, so a write that begins after it returned is seen; with a context already done it returns an error matching ctx.Err() and never calls fn; once ctx is done fn is not called again but for one call already under way; fn is never called concurrently with itself."},

		// Errors and contexts
		{name: "Errors/NotDurable", check: checkNotDurableApplied,
			rule: "A backend returns ErrNotDurable only for a write it applied, together with the stored record, and never with another sentinel."},
		{name: "Errors/Distinct", check: checkErrorsDistinct,
			rule: "Backends report conditions with the sentinel errors of package backend, possibly wrapped, matched with errors.Is; each condition matches its own sentinel only."},
		{name: "Context/Canceled", check: checkContextCanceled,
			rule: "Every method that takes a context must honour its cancellation: with a context already cancelled it returns an error matching context.Canceled."},
		{name: "Context/DeadlineExceeded", check: checkContextDeadline,
			rule: "Every method that takes a context must honour its deadline: with a deadline already past it returns an error matching context.DeadlineExceeded."},

		// The Manager over the backend.
		{name: "Manager/Lifecycle", check: checkManagerLifecycle,
			rule: "session.Manager works on the backend: Create, Get, Save twice, Update, Renew (the old ID is dead), Destroy, and DestroyByOwner when the backend has OwnerIndex (ErrUnsupported otherwise)."},
		{name: "Manager/ConcurrentUpdate", check: checkManagerConcurrentUpdate, timeout: 2 * time.Minute,
			rule: "Two Managers on the backend, 50 goroutines each, 20 Manager.Update increments per goroutine: the session ends at exactly 2000."},
		{name: "Manager/Corrupt", check: checkManagerCorrupt,
			rule: "A stored payload that no codec wrote is session.ErrCorrupt from Manager.Get."},
		{name: "Manager/NotDurable", check: checkManagerNotDurable,
			rule: "A write that a backend applied and reported with ErrNotDurable is a done write for the Manager: Create returns the session, Save keeps the stored version, Update does not retry, Renew hands out the new ID."},
		{name: "Manager/Events", check: checkManagerEvents,
			rule: "Manager.Subscribe delivers a session's life by its handle (Session.Handle), never its ID, in any field: EventCreated, EventRenewed (Handle the new, OldHandle the old; without Rekeyer EventCreated and EventDestroyed), EventDestroyed, one per session for DestroyByOwner; without a backend.Notifier it returns an error matching ErrUnsupported."},
		{name: "Manager/NoRawID", check: checkManagerNoRawID,
			rule: "No session ID reaches the backend, in a key, an owner or a payload: only its hash does."},

		// Close, last.
		{name: "Close/Twice", check: checkCloseTwice,
			rule: "Close releases the backend's resources. Calling it more than once is not an error."},
	}
}
