package session

import (
	"errors"
	"fmt"

	"github.com/sessionkit/sessionkit/backend"
)

var (
	// ErrNotFound means there is no live session with that ID: it never
	// existed, it was destroyed or renewed, it expired, or the ID is
	// malformed. It is backend.ErrNotFound.
	ErrNotFound = backend.ErrNotFound
	// ErrConflict means the stored session changed since it was read; the
	// write was not applied. It is backend.ErrConflict.
	ErrConflict = backend.ErrConflict
	// ErrNotDurable means the write was applied, but the backend could not
	// confirm it as durable as it was configured to (Redis with
	// WithWaitReplicas: too few replicas acknowledged it in time). The
	// method returns its result as for a success, together with the error:
	// the session is stored and usable, and a failover may still lose the
	// write. It is backend.ErrNotDurable.
	ErrNotDurable = backend.ErrNotDurable
	// ErrTooLarge means the encoded session data exceeds the Manager's
	// maximum payload size; nothing was written.
	ErrTooLarge = errors.New("session: payload too large")
	// ErrCorrupt means a stored session could not be read: its payload is
	// truncated, garbage, or written by a codec this Manager does not know,
	// or the backend found a record it cannot read. It is
	// backend.ErrCorrupt.
	ErrCorrupt = backend.ErrCorrupt
	// ErrUnsupported means the backend lacks a capability the call needs,
	// such as backend.OwnerIndex. It matches errors.ErrUnsupported too.
	ErrUnsupported = fmt.Errorf("session: backend lacks this capability: %w", errors.ErrUnsupported)
)
