package postgresbackend

import (
	"context"
	"encoding/base64"
	"errors"
	"fmt"
	"hash/fnv"
	"math/rand/v2"
	"strconv"
	"strings"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/sessionkit/sessionkit/backend"
	"github.com/sessionkit/sessionkit/internal/eventq"
)

// The listener's timing. Every wait is bounded; the reconnect loop ends
// with the subscription's context.
const (
	// listenIdle is how long a listener waits for a notification before
	// it pings the server, so that a connection that died silently (no
	// FIN, no RST) is noticed within listenIdle+listenTimeout.
	listenIdle = 15 * time.Second
	// listenTimeout bounds one connect-and-LISTEN attempt and one ping.
	listenTimeout = 10 * time.Second
	// The reconnect backoff: a random wait up to a bound that doubles
	// from relistenMin to relistenMax.
	relistenMin = 50 * time.Millisecond
	relistenMax = 5 * time.Second
)

// maxNotifyPayload is the longest NOTIFY payload PostgreSQL accepts: it
// must be shorter than 8000 bytes (with the default page size).
const maxNotifyPayload = 7999

// maxChannel is the longest channel name: channels are identifiers, which
// PostgreSQL truncates at 63 bytes, and pg_notify refuses longer ones.
const maxChannel = 63

// channel is the NOTIFY channel of one table.
type channel struct {
	off     bool   // WithEvents(false): the statements send nothing
	name    string // sessionkit:<table>, at most maxChannel bytes
	ident   string // name quoted as an identifier, for LISTEN
	literal string // name quoted as a string literal, for pg_notify
}

// newChannel derives the channel from the table name as configured:
// "sessionkit:" and the name, or, when that is longer than 63 bytes, a
// prefix of it and a hash of the whole name, so that two long names with
// a common prefix still get channels of their own.
func newChannel(t table, send bool) channel {
	name := "sessionkit:" + t.name
	if len(name) > maxChannel {
		h := fnv.New64a()
		h.Write([]byte(t.name))
		sum := fmt.Sprintf(":%016x", h.Sum64())
		name = name[:maxChannel-len(sum)] + sum
	}
	return channel{
		off:     !send,
		name:    name,
		ident:   pgx.Identifier{name}.Sanitize(),
		literal: "'" + strings.ReplaceAll(name, "'", "''") + "'",
	}
}

// The payload of a notification is ASCII text:
//
//	<kind>:<at>:<key>:<old key>:<owner>
//
// kind is the backend.EventKind in decimal, at the application's clock in
// Unix microseconds, and key, old key (empty but for EventRekeyed) and
// owner in standard base64 with padding (PostgreSQL's encode(..., 'base64')
// without its line breaks), since both are bytea and may hold any byte.
// When the payload would reach the 8000 bytes NOTIFY accepts, the owner is
// left out (the field is empty, the event's Owner ""); when even that is
// too long (only with keys of more than about 2.9 KiB in a Rekey, or of
// more than 5.8 KiB), only "<kind>:<at>" is sent, and the subscriber
// receives an EventMissed counting one event (PostgreSQL folds equal
// payloads of one transaction into one, so several such events of one
// cleanup or DeleteByOwner statement may arrive as one EventMissed; full
// payloads differ by their key). A write never fails for the size of its
// event.

// notifyCount returns a scalar subquery that sends one notification for
// each row of rows (a CTE or a subquery with an alias) and counts the rows.
// kind, key, owner and oldKey are SQL expressions over the row's columns
// (oldKey may be "" for none; kind a text of the EventKind in decimal), at
// the timestamptz parameter holding the application's clock. With events
// off it only counts.
func (c channel) notifyCount(rows, kind, at, key, owner, oldKey string) string {
	if c.off {
		return `(SELECT count(*) FROM ` + rows + `)`
	}
	b64 := func(x string) string { return `translate(encode(` + x + `, 'base64'), E'\n', '')` }
	head := `(` + kind + `) || ':' || floor(extract(epoch FROM ` + at + `) * 1000000)::bigint`
	old := `''`
	if oldKey != "" {
		old = b64(oldKey)
	}
	limit := strconv.Itoa(maxNotifyPayload)
	return `(SELECT count(pg_notify(` + c.literal + `, CASE
		WHEN octet_length(m.brief) + octet_length(m.owner) <= ` + limit + ` THEN m.brief || m.owner
		WHEN octet_length(m.brief) <= ` + limit + ` THEN m.brief
		ELSE ` + head + ` END))
	FROM ` + rows + ` CROSS JOIN LATERAL (SELECT
		` + head + ` || ':' || ` + b64(key) + ` || ':' || ` + old + ` || ':' AS brief,
		` + b64(owner) + ` AS owner) AS m)`
}

// kindSQL is k as the SQL text literal notifyCount's kind expects.
func kindSQL(k backend.EventKind) string { return `'` + strconv.Itoa(int(k)) + `'` }

// decodeEvent parses a notification's payload. A payload it cannot read
// fully (the brief form of an oversized event, or one that something else
// sent on the channel) stands for one lost event: an EventMissed counting
// one.
func decodeEvent(payload string) backend.Event {
	lost := backend.Event{Kind: backend.EventMissed, Missed: 1}
	f := strings.Split(payload, ":")
	if len(f) != 5 {
		return lost
	}
	kind, err := strconv.ParseUint(f[0], 10, 8)
	if err != nil {
		return lost
	}
	at, err := strconv.ParseInt(f[1], 10, 64)
	if err != nil {
		return lost
	}
	var dec [3][]byte
	for i := range dec {
		if dec[i], err = base64.StdEncoding.DecodeString(f[2+i]); err != nil {
			return lost
		}
	}
	e := backend.Event{Kind: backend.EventKind(kind), Key: string(dec[0]), OldKey: string(dec[1]), Owner: string(dec[2]),
		At: time.UnixMicro(at)}
	switch e.Kind {
	case backend.EventCreated, backend.EventDeleted, backend.EventExpired:
		if e.OldKey != "" {
			return lost
		}
	case backend.EventRekeyed:
	default:
		return lost
	}
	if e.Key == "" {
		return lost
	}
	return e
}

// Subscribe calls fn for every record created, rekeyed, deleted or
// expired in the Backend's table, by any instance, until ctx is done or
// the Backend is closed. It opens a connection of its own (with the
// pool's connection settings, outside the pool) and returns once LISTEN
// has succeeded on it, so every write that begins after Subscribe returned
// nil is seen; or it returns an error (matching backend.ErrUnavailable
// when the database could not be reached, ErrClosed after Close,
// errors.ErrUnsupported with WithEvents(false)) and fn is never called.
//
// Each subscription holds one connection (subscriptions share none, so
// each lives and reconnects on its own); connecting and LISTEN are
// bounded by 10 s as well as by ctx. Events wait for fn in a queue of
// 4096: when it is full, new events are dropped and counted in an
// EventMissed. fn is called from one goroutine at a time. When the
// connection is lost, the subscription connects again with a backoff
// (50 ms doubling to 5 s) until ctx is done, LISTENs again, and then
// delivers an EventMissed with Missed 0: what was written in between is
// not delivered. An idle connection is pinged every 15 s, so a connection
// that died without a word is noticed too. The connection does not run
// the pool's AfterConnect hook.
func (b *Backend) Subscribe(ctx context.Context, fn func(backend.Event)) error {
	if err := b.begin(ctx, "subscribe"); err != nil {
		return err
	}
	if fn == nil {
		return errors.New("postgresbackend: subscribe: nil fn")
	}
	if b.ch.off {
		return fmt.Errorf("postgresbackend: subscribe: the Backend sends no events (WithEvents(false)): %w", errors.ErrUnsupported)
	}
	lctx, cancel := context.WithTimeout(ctx, listenTimeout)
	conn, err := b.listen(lctx)
	cancel()
	if err != nil {
		return storeError(ctx, "subscribe", err)
	}
	b.subsMu.Lock()
	if b.closed.Load() {
		b.subsMu.Unlock()
		closeConn(conn)
		return fmt.Errorf("postgresbackend: subscribe: %w", errClosed)
	}
	b.subs.Add(1)
	b.subsMu.Unlock()

	sctx, cancel := context.WithCancel(ctx)
	stop := context.AfterFunc(b.life, cancel)
	q := eventq.Start(sctx, 0, fn)
	go func() {
		defer b.subs.Done()
		defer stop()
		defer cancel()
		b.receive(sctx, conn, q)
	}()
	return nil
}

// listen opens a connection with the pool's settings and LISTENs on the
// table's channel.
func (b *Backend) listen(ctx context.Context) (*pgx.Conn, error) {
	conn, err := pgx.ConnectConfig(ctx, b.pool.Config().ConnConfig.Copy())
	if err != nil {
		return nil, err
	}
	if _, err := conn.Exec(ctx, "LISTEN "+b.ch.ident); err != nil {
		closeConn(conn)
		return nil, err
	}
	return conn, nil
}

// closeConn closes conn, waiting a bounded time for the server to hear it.
func closeConn(conn *pgx.Conn) {
	ctx, cancel := context.WithTimeout(context.Background(), time.Second)
	defer cancel()
	_ = conn.Close(ctx)
}

// receive hands every notification on conn to q until ctx is done,
// replacing a connection that broke (see Subscribe).
func (b *Backend) receive(ctx context.Context, conn *pgx.Conn, q *eventq.Queue) {
	defer func() {
		if conn != nil {
			closeConn(conn)
		}
	}()
	for {
		wctx, cancel := context.WithTimeout(ctx, listenIdle)
		n, err := conn.WaitForNotification(wctx)
		cancel()
		if n != nil {
			q.Push(decodeEvent(n.Payload))
		}
		if err == nil {
			continue
		}
		if ctx.Err() != nil {
			return
		}
		if !conn.IsClosed() { // idle for listenIdle: is it still there?
			pctx, cancel := context.WithTimeout(ctx, listenTimeout)
			err = conn.Ping(pctx)
			cancel()
			if err == nil {
				continue
			}
			if ctx.Err() != nil {
				return
			}
		}
		closeConn(conn)
		drain(conn, q)
		if conn = b.relisten(ctx); conn == nil {
			return
		}
		q.Lost()
	}
}

// drain hands q the notifications that the closed conn received before it
// broke (during a ping) and has not yet returned: they precede the gap.
func drain(conn *pgx.Conn, q *eventq.Queue) {
	for {
		// On a closed connection this returns at once: a buffered
		// notification, or an error.
		n, _ := conn.WaitForNotification(context.Background())
		if n == nil {
			return
		}
		q.Push(decodeEvent(n.Payload))
	}
}

// relisten connects and LISTENs again, waiting between attempts, until it
// succeeds or ctx is done (then it returns nil).
func (b *Backend) relisten(ctx context.Context) *pgx.Conn {
	bound := relistenMin
	for {
		actx, cancel := context.WithTimeout(ctx, listenTimeout)
		conn, err := b.listen(actx)
		cancel()
		if err == nil {
			return conn
		}
		t := time.NewTimer(bound/2 + rand.N(bound/2))
		select {
		case <-ctx.Done():
			t.Stop()
			return nil
		case <-t.C:
		}
		bound = min(2*bound, relistenMax)
	}
}
