package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/redis/rueidis"

	"github.com/sessionkit/sessionkit/backend"
	memorybackend "github.com/sessionkit/sessionkit/backend_memory"
	postgresbackend "github.com/sessionkit/sessionkit/backend_postgres"
	redisbackend "github.com/sessionkit/sessionkit/backend_redis"
	"github.com/sessionkit/sessionkit/session"
	"github.com/sessionkit/sessionkit/session/httpsession"
)

// config says what run starts.
type config struct {
	// Addrs are the listen addresses, one instance each.
	Addrs []string
	// AnyPort[i] lets instance i listen on a free port of the same host
	// when Addrs[i] is taken.
	AnyPort []bool
	// RedisURL selects the Redis backend (one client per instance): a
	// URL of rueidis.ParseURL or a bare host:port.
	RedisURL string
	// PostgresURL selects the PostgreSQL backend (one pool and one
	// Backend per instance, on one table): a postgres:// URL or key=value
	// settings, as pgxpool.ParseConfig takes. With neither it nor
	// RedisURL, all instances share one in-memory backend; with both,
	// run returns an error.
	PostgresURL string
	// Log receives warnings; nil discards them.
	Log io.Writer
}

// Session lifetimes of the demo.
const (
	idleTimeout     = 30 * time.Minute
	absoluteTimeout = 12 * time.Hour
	shutdownTimeout = 5 * time.Second
	connectTimeout  = 10 * time.Second
)

// run starts one instance of the app per address, calls ready with their
// base URLs once all listen, and serves until ctx is done; then it shuts
// the servers down and closes the stores.
func run(ctx context.Context, cfg config, ready func(urls []string)) (err error) {
	logw := cfg.Log
	if logw == nil {
		logw = io.Discard
	}
	if cfg.RedisURL != "" && cfg.PostgresURL != "" {
		return errors.New("-redis and -postgres both given: the demo keeps its sessions in one store; pick one")
	}
	cfg.RedisURL = normalizeRedisURL(cfg.RedisURL)
	var lns []net.Listener
	defer func() {
		for _, ln := range lns {
			ln.Close() // after Shutdown: already closed, harmless
		}
	}()
	urls := make([]string, len(cfg.Addrs))
	for i, addr := range cfg.Addrs {
		ln, err := listen(addr, i < len(cfg.AnyPort) && cfg.AnyPort[i], logw)
		if err != nil {
			return err
		}
		lns = append(lns, ln)
		urls[i] = browsableURL(ln.Addr().(*net.TCPAddr))
		if ip := ln.Addr().(*net.TCPAddr).IP; ip.IsUnspecified() {
			fmt.Fprintf(logw, "sessiondemo: %s listens on every interface; browse %s\n", ln.Addr(), urls[i])
		}
	}

	stores, err := openStores(ctx, cfg, len(lns))
	if err != nil {
		return err
	}
	defer func() {
		for _, b := range stores {
			err = errors.Join(err, b.Close())
		}
	}()

	servers := make([]*http.Server, len(lns))
	warned := false
	for i, ln := range lns {
		loopback := ln.Addr().(*net.TCPAddr).IP.IsLoopback()
		if !loopback {
			fmt.Fprintf(logw, "sessiondemo: %s is not a loopback address: the session cookie stays Secure, and browsers drop it over plain HTTP; put TLS in front\n", ln.Addr())
		}
		// Plain HTTP on loopback only: see "Cookies over plain HTTP" in the
		// package documentation. Never do this for a public address.
		a, err := newApp(stores[i], instanceName(i), storeName(cfg), httpsession.WithSecure(!loopback))
		if err != nil {
			return err
		}
		a.url = urls[i]
		if err := a.subscribe(ctx); err != nil && !warned {
			warned = true // the instances share the store: once is enough
			fmt.Fprintf(logw, "sessiondemo: no live logout, the pages update on reload only: %v\n", err)
		}
		for j, u := range urls {
			if j != i {
				a.peers = append(a.peers, peer{Name: instanceName(j), URL: u})
			}
		}
		servers[i] = &http.Server{
			Handler:           a.handler(),
			ReadHeaderTimeout: 10 * time.Second,
			BaseContext:       func(net.Listener) context.Context { return context.WithoutCancel(ctx) },
		}
	}

	errc := make(chan error, len(servers))
	for i, srv := range servers {
		go func() { errc <- srv.Serve(lns[i]) }()
	}
	if ready != nil {
		ready(urls)
	}

	var serveErr error
	select {
	case <-ctx.Done():
	case serveErr = <-errc: // a listener failed: stop the others too
	}
	sctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), shutdownTimeout)
	defer cancel()
	for _, srv := range servers {
		if err := srv.Shutdown(sctx); err != nil {
			serveErr = errors.Join(serveErr, err)
		}
	}
	if errors.Is(serveErr, http.ErrServerClosed) {
		serveErr = nil
	}
	return serveErr
}

// newApp returns an instance of the demo app named name on store, its
// Middleware built with opts, without live updates until subscribe.
func newApp(store backend.Backend, name, storeDesc string, opts ...httpsession.Option) (*app, error) {
	timeouts := []session.Option{session.WithIdleTimeout(idleTimeout), session.WithAbsoluteTimeout(absoluteTimeout)}
	m, err := session.NewManager[Account](store, timeouts...)
	if err != nil {
		return nil, err
	}
	peek, err := newPeekManager(store, timeouts...)
	if err != nil {
		return nil, err
	}
	a := &app{name: name, store: storeDesc}
	opts = append(opts, httpsession.WithErrorHandler(a.fail))
	if a.mw, err = httpsession.New(m, opts...); err != nil {
		return nil, err
	}
	if a.peek, err = httpsession.New(peek, opts...); err != nil {
		return nil, err
	}
	return a, nil
}

// newPeekManager returns a Manager of the sessions on store, with the
// idle timeout of opts, whose Get never moves a session's idle deadline:
// its touch interval is the idle timeout less a nanosecond, and a live
// session's idle deadline is always less than that behind the one Get
// would set. The event stream reads sessions with it, so that an open
// page keeps no session alive.
func newPeekManager(store backend.Backend, opts ...session.Option) (*session.Manager[Account], error) {
	m, err := session.NewManager[Account](store, opts...)
	if err != nil {
		return nil, err
	}
	return session.NewManager[Account](store, append(opts, session.WithTouchInterval(m.IdleTimeout()-time.Nanosecond))...)
}

// subscribe starts the instance's live updates: it subscribes to the
// store's session events until ctx is done (the server's lifetime) and
// ends the event streams then. It returns the error of Subscribe (the
// store has no events: session.ErrUnsupported), and the app then runs
// without live updates.
func (a *app) subscribe(ctx context.Context) error {
	h := newHub()
	if err := a.mw.Manager().Subscribe(ctx, h.publish); err != nil {
		return err
	}
	a.live, a.done = h, ctx.Done()
	return nil
}

// listen listens on addr, or, if anyPort and addr is taken, on a free port
// of the same host.
func listen(addr string, anyPort bool, logw io.Writer) (net.Listener, error) {
	ln, err := net.Listen("tcp", addr)
	if err == nil || !anyPort || !errors.Is(err, syscall.EADDRINUSE) {
		return ln, err
	}
	host, _, serr := net.SplitHostPort(addr)
	if serr != nil {
		return nil, err
	}
	ln, err2 := net.Listen("tcp", net.JoinHostPort(host, "0"))
	if err2 != nil {
		return nil, errors.Join(err, err2)
	}
	fmt.Fprintf(logw, "sessiondemo: %s is taken; using %s\n", addr, ln.Addr())
	return ln, nil
}

// browsableURL is the URL of the demo's home page on a listener: the
// listener's own address, except that an unspecified one (0.0.0.0, [::]),
// which no browser can open, becomes 127.0.0.1. It is 127.0.0.1 for both
// families because cookies belong to a host name: both instances must be
// browsed on the same one to share the session cookie, and a listener on
// [::] accepts IPv4 connections too.
func browsableURL(addr *net.TCPAddr) string {
	host := addr.IP.String()
	if addr.IP.IsUnspecified() {
		host = "127.0.0.1"
	}
	return "http://" + net.JoinHostPort(host, strconv.Itoa(addr.Port)) + "/"
}

// normalizeRedisURL turns the -redis flag into a URL for rueidis.ParseURL:
// a bare host:port (no "scheme://") becomes redis://host:port; anything
// else is returned as it is.
func normalizeRedisURL(s string) string {
	if s == "" || strings.Contains(s, "://") {
		return s
	}
	return "redis://" + s
}

// openStores returns the backend of each of n instances, as n processes
// would have them: one shared in-memory backend, or per instance one
// Redis client, or one PostgreSQL pool and Backend on the same table
// (cfg.RedisURL is normalized).
func openStores(ctx context.Context, cfg config, n int) ([]backend.Backend, error) {
	stores := make([]backend.Backend, 0, n)
	if cfg.RedisURL == "" && cfg.PostgresURL == "" {
		mem := memorybackend.New() // Close is idempotent: each instance closes it
		for range n {
			stores = append(stores, mem)
		}
		return stores, nil
	}
	var open func(context.Context) (backend.Backend, error)
	if cfg.RedisURL != "" {
		if _, err := rueidis.ParseURL(cfg.RedisURL); err != nil {
			return nil, fmt.Errorf("-redis: %w; use host:port or a URL such as redis://host:port", err)
		}
		open = func(ctx context.Context) (backend.Backend, error) {
			return redisbackend.NewFromURL(ctx, cfg.RedisURL)
		}
	} else {
		pcfg, err := pgxpool.ParseConfig(cfg.PostgresURL)
		if err != nil {
			return nil, fmt.Errorf("-postgres: %w; use a URL such as postgres://user:password@host:5432/database, or key=value settings", err)
		}
		open = func(ctx context.Context) (backend.Backend, error) {
			return openPostgres(ctx, pcfg.Copy())
		}
	}
	cctx, cancel := context.WithTimeout(ctx, connectTimeout)
	defer cancel()
	for range n {
		b, err := open(cctx)
		if err != nil {
			for _, s := range stores {
				s.Close()
			}
			return nil, err
		}
		stores = append(stores, b)
	}
	return stores, nil
}

// pgStore is a PostgreSQL Backend with the pool it alone uses, which
// Close closes after it. Embedded, the Backend's methods are pgStore's,
// so the Manager finds its capabilities (backend.Notifier and the others).
type pgStore struct {
	*postgresbackend.Backend
	pool *pgxpool.Pool
}

func (s pgStore) Close() error {
	err := s.Backend.Close()
	s.pool.Close()
	return err
}

// openPostgres opens a pool with pcfg and a Backend on it, on the default
// table, which New creates if it is missing.
func openPostgres(ctx context.Context, pcfg *pgxpool.Config) (backend.Backend, error) {
	pool, err := pgxpool.NewWithConfig(ctx, pcfg)
	if err != nil {
		return nil, err
	}
	b, err := postgresbackend.New(ctx, pool)
	if err != nil {
		pool.Close()
		return nil, err
	}
	return pgStore{Backend: b, pool: pool}, nil
}

// storeName describes the store of cfg (RedisURL normalized) for people,
// without credentials.
func storeName(cfg config) string {
	switch {
	case cfg.RedisURL != "":
		u, err := url.Parse(cfg.RedisURL)
		if err != nil {
			return "Redis"
		}
		u.User = nil
		return "Redis at " + u.Redacted()
	case cfg.PostgresURL != "":
		pcfg, err := pgxpool.ParseConfig(cfg.PostgresURL)
		if err != nil {
			return "PostgreSQL"
		}
		c := pcfg.ConnConfig
		at := c.Host // a socket's folder
		if !strings.HasPrefix(at, "/") {
			at = net.JoinHostPort(c.Host, strconv.Itoa(int(c.Port)))
		}
		return "PostgreSQL database " + c.Database + " at " + at
	}
	return "memory (one backend shared by both instances)"
}

// instanceName names instance i: A, B, ...
func instanceName(i int) string { return string(rune('A' + i)) }
