// Command sessiondemo shows sessionkit at work: two instances of a small
// web application in one process, on two loopback ports, sharing their
// sessions through one store.
//
//	go run ./cmd/sessiondemo
//
// prints two URLs, http://127.0.0.1:8081/ (instance A) and
// http://127.0.0.1:8082/ (instance B). Log in on one, open the other: the
// same session is there, since cookies are not port-specific and both
// instances read the same store. The page shows the typed session (name,
// login time, a counter), the instance that served it, your sessions on
// all devices (log in from a second browser or a private window) with a
// button to log out each one, and buttons to log out and to log out
// everywhere. A page whose session is ended from elsewhere says so at
// once, without a reload (live.go). Ctrl-C stops it.
//
// Flags:
//
//	-addr1, -addr2  listen addresses (default 127.0.0.1:8081 and 127.0.0.1:8082;
//	                a busy default port is replaced by a free one, an address
//	                given on the command line is not); for 0.0.0.0 or [::]
//	                the printed URLs name 127.0.0.1
//	-redis URL      store sessions in Redis instead of memory, e.g.
//	                127.0.0.1:6379 or redis://127.0.0.1:6379, a Sentinel group with
//	                redis://127.0.0.1:26379?master_set=mymaster, a Cluster with
//	                redis://127.0.0.1:7000?addr=127.0.0.1:7001&addr=127.0.0.1:7002
//	                (rueidis.ParseURL); each instance gets its own client and
//	                client-side cache, as separate processes would
//	-postgres URL   store sessions in PostgreSQL instead of memory, e.g.
//	                postgres://user:password@127.0.0.1:5432/app or
//	                "host=/var/run/postgresql dbname=app" (pgxpool.ParseConfig);
//	                each instance gets its own pool and Backend on the table
//	                sessionkit_sessions, created if missing, and the live
//	                logout travels between them by pg_notify; not with -redis
//	-walkthrough    print a walkthrough of the session lifecycle over the
//	                in-memory backend and exit
//
// # Cookies over plain HTTP
//
// The demo serves plain HTTP. The library's session cookie is Secure by
// default, and a Secure cookie set over plain HTTP is dropped by some
// browsers (Safari, older ones) even on a loopback address, so the demo
// turns Secure off — only for a listener on a loopback address, where the
// cookie never leaves the machine. On any other address it keeps Secure on
// and warns that browsers will not keep the cookie without TLS in front.
// Real deployments serve HTTPS and keep the default.
package main

import (
	"context"
	"flag"
	"fmt"
	"os"
	"os/signal"
	"syscall"

	postgresbackend "github.com/sessionkit/sessionkit/backend_postgres"
)

// Default listen addresses of the two instances.
const (
	defaultAddr1 = "127.0.0.1:8081"
	defaultAddr2 = "127.0.0.1:8082"
)

func main() {
	walk := flag.Bool("walkthrough", false, "print a walkthrough of the session lifecycle over the in-memory backend and exit")
	addr1 := flag.String("addr1", defaultAddr1, "listen address of instance A")
	addr2 := flag.String("addr2", defaultAddr2, "listen address of instance B")
	redisURL := flag.String("redis", "", "store sessions in Redis at this address instead of in memory: host:port, or a URL (redis://host:port; ?master_set= for Sentinel, ?addr= for more Cluster nodes)")
	postgresURL := flag.String("postgres", "", "store sessions in PostgreSQL instead of in memory: a URL (postgres://user:password@host:5432/database) or key=value settings (host=... dbname=...), as pgxpool.ParseConfig takes; the table "+postgresbackend.DefaultTable+" is created if missing; not with -redis")
	flag.Parse()
	if *walk {
		if err := walkthrough(context.Background(), os.Stdout); err != nil {
			fmt.Fprintln(os.Stderr, "sessiondemo:", err)
			os.Exit(1)
		}
		return
	}

	set := map[string]bool{}
	flag.Visit(func(f *flag.Flag) { set[f.Name] = true })
	cfg := config{
		Addrs:       []string{*addr1, *addr2},
		AnyPort:     []bool{!set["addr1"], !set["addr2"]},
		RedisURL:    normalizeRedisURL(*redisURL),
		PostgresURL: *postgresURL,
		Log:         os.Stderr,
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	err := run(ctx, cfg, func(urls []string) {
		fmt.Printf("sessiondemo: sessions in %s\n", storeName(cfg))
		for i, u := range urls {
			fmt.Printf("  instance %s: %s\n", instanceName(i), u)
		}
		fmt.Println("Log in on one, open the other; a second browser is a second device. Ctrl-C stops.")
	})
	if err != nil {
		fmt.Fprintln(os.Stderr, "sessiondemo:", err)
		os.Exit(1)
	}
}
