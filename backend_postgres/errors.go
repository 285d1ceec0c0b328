package postgresbackend

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"syscall"

	"github.com/jackc/pgx/v5/pgconn"

	"github.com/sessionkit/sessionkit/backend"
)

// ErrClosed is matched, together with backend.ErrUnavailable, by the error
// every method except Close returns once the Backend is closed.
var ErrClosed = errors.New("postgresbackend: closed")

// errClosed is what methods return after Close.
var errClosed = fmt.Errorf("%w: %w", ErrClosed, backend.ErrUnavailable)

// storeError turns an error from pgx into the errors of the contract:
//
//   - with ctx done, an error matching ctx.Err() (and the cause), and no
//     sentinel of package backend;
//   - a server error that says the server cannot serve now (connection
//     exception, shutdown, lack of resources, a deadlock or serialization
//     failure): backend.ErrUnavailable and the cause;
//   - any other server error (a missing table, a value out of range): the
//     cause alone, since retrying cannot help;
//   - anything else (a refused or broken connection, a closed pool, a
//     timeout): backend.ErrUnavailable and the cause.
func storeError(ctx context.Context, op string, err error) error {
	if ctxErr := ctx.Err(); ctxErr != nil {
		if errors.Is(err, ctxErr) {
			return fmt.Errorf("postgresbackend: %s: %w", op, err)
		}
		return fmt.Errorf("postgresbackend: %s: %w: %w", op, ctxErr, err)
	}
	var pgErr *pgconn.PgError
	if errors.As(err, &pgErr) && !transient(pgErr.Code) {
		return fmt.Errorf("postgresbackend: %s: %w", op, err)
	}
	return fmt.Errorf("postgresbackend: %s: %w: %w", op, backend.ErrUnavailable, err)
}

// transient reports whether a SQLSTATE says the server could not serve the
// statement now rather than that the statement is wrong: class 08
// (connection exception), 40 (transaction rollback: serialization failure,
// deadlock), 53 (insufficient resources), 57 (operator intervention:
// query_canceled by statement_timeout, admin_shutdown from
// pg_terminate_backend, crash_shutdown, cannot_connect_now) and 58 (system
// error).
func transient(code string) bool {
	if len(code) < 2 {
		return false
	}
	switch code[:2] {
	case "08", "40", "53", "57", "58":
		return true
	}
	return false
}

// retrying runs f, and once more if it failed before anything reached the
// server (pgconn.SafeToRetry: a pooled connection found dead while
// sending). Statements that were sent are not repeated, since they may
// have been applied; use retryingIdempotent for those that may.
func retrying[T any](ctx context.Context, f func() (T, error)) (T, error) {
	v, err := f()
	if err != nil && pgconn.SafeToRetry(err) && ctx.Err() == nil {
		v, err = f()
	}
	return v, err
}

// retryingIdempotent runs f, a statement that may run twice (a read, a
// Touch, a Delete), again while it failed on a connection that turned out
// to be broken (see lostConnection), up to tries times in all. The pool
// discards a broken connection, so after a server restart, which breaks
// every pooled connection at once, tries = MaxConns+1 reaches a new one.
func retryingIdempotent[T any](ctx context.Context, tries int, f func() (T, error)) (T, error) {
	v, err := f()
	for i := 1; i < tries && err != nil && ctx.Err() == nil && (pgconn.SafeToRetry(err) || lostConnection(err)); i++ {
		v, err = f()
	}
	return v, err
}

// lostConnection reports whether err says that an established connection
// broke (the server terminated the session or shut down, the socket
// closed) rather than that the statement failed or that no connection
// could be made at all (retrying would then only wait again).
func lostConnection(err error) bool {
	var connErr *pgconn.ConnectError
	if errors.As(err, &connErr) {
		return false
	}
	var pgErr *pgconn.PgError
	if !errors.As(err, &pgErr) {
		var netErr net.Error
		return errors.As(err, &netErr) || errors.Is(err, io.EOF) || errors.Is(err, io.ErrUnexpectedEOF) ||
			errors.Is(err, net.ErrClosed) || errors.Is(err, syscall.ECONNRESET) || errors.Is(err, syscall.EPIPE) ||
			errors.Is(err, pgconn.ErrConnClosed)
	}
	switch pgErr.Code {
	case "57P01", "57P02", "57P03": // admin_shutdown, crash_shutdown, cannot_connect_now
		return true
	}
	return pgErr.Code[:2] == "08"
}
