package memorybackend

import (
	"runtime"
	"time"
)

// maxShards caps WithShards; more shards than this only cost memory.
const maxShards = 1 << 16

// defaultJanitorInterval is how often the janitor sweeps by default.
const defaultJanitorInterval = time.Minute

// An Option configures a Backend built by New. When an option is given more
// than once, the last one wins.
type Option func(*config)

type config struct {
	shards  int
	janitor time.Duration
	clock   func() time.Time // nil: time.Now
}

func defaultConfig() config {
	return config{
		shards:  defaultShards(),
		janitor: defaultJanitorInterval,
	}
}

// defaultShards is the smallest power of two that is at least 64 and at
// least four times GOMAXPROCS.
func defaultShards() int {
	return roundShards(max(64, 4*runtime.GOMAXPROCS(0)))
}

// roundShards rounds n up to a power of two in [1, maxShards].
func roundShards(n int) int {
	s := 1
	for s < n && s < maxShards {
		s <<= 1
	}
	return s
}

// WithShards sets the number of shards the records, and separately the
// owner index, are spread over. More shards mean less lock contention
// between goroutines at a small cost in memory. n is rounded up to a power
// of two and capped at 65536; n <= 0 selects the default. The default is the
// smallest power of two that is at least 64 and at least 4×GOMAXPROCS.
func WithShards(n int) Option {
	return func(c *config) {
		if n <= 0 {
			c.shards = defaultShards()
			return
		}
		c.shards = roundShards(n)
	}
}

// WithJanitorInterval sets how often the background janitor sweeps expired
// records out of memory. Expired records are never returned whatever the
// interval; the janitor only reclaims their memory. 0 disables the janitor
// (expired records then stay in memory until their key is written or
// deleted); a negative d selects the default. The default is one minute.
func WithJanitorInterval(d time.Duration) Option {
	return func(c *config) {
		if d < 0 {
			d = defaultJanitorInterval
		}
		c.janitor = d
	}
}

// WithClock sets the function the backend reads the current time from to
// decide whether a record has expired; tests use it to move time by hand.
// It must be safe for concurrent use. nil selects the default. The default
// is time.Now.
func WithClock(now func() time.Time) Option {
	return func(c *config) { c.clock = now }
}
