package session

import (
	"errors"
	"fmt"
	"log/slog"
	"time"

	"github.com/sessionkit/sessionkit/codec"
)

// Option configures a Manager. Options are applied in order; the last one
// of a kind wins. NewManager validates the result as a whole.
type Option func(*config)

type config struct {
	codec       codec.Codec
	decoders    []codec.Codec
	idle        time.Duration
	absolute    time.Duration
	maxAbsolute time.Duration // 0: absolute
	touch       time.Duration
	touchSet    bool
	maxPayload  int
	clock       func() time.Time
	newID       func() (string, error)
	customID    bool
	maxAttempts int
	decodeCache int
	logger      *slog.Logger
	observer    Observer
}

// Defaults of a Manager built without options.
const (
	DefaultIdleTimeout     = 30 * time.Minute
	DefaultAbsoluteTimeout = 24 * time.Hour
	DefaultMaxPayload      = 64 << 10
	DefaultUpdateAttempts  = 100
	DefaultDecodeCache     = 4096
)

// WithCodec sets the codec that encodes session data. Payloads written by
// the built-in codecs stay readable after a switch, and so do those of codecs
// passed with WithDecoders. Default: codec.MsgPack().
func WithCodec(c codec.Codec) Option { return func(cf *config) { cf.codec = c } }

// WithDecoders adds codecs that the Manager can read but does not write, for
// moving from a custom codec to another. Default: none (the built-in codecs
// are always readable).
func WithDecoders(cs ...codec.Codec) Option {
	return func(cf *config) { cf.decoders = append(cf.decoders, cs...) }
}

// WithIdleTimeout sets how long a session lives without activity. Any
// positive duration is valid. Default: 30 minutes.
func WithIdleTimeout(d time.Duration) Option { return func(cf *config) { cf.idle = d } }

// WithAbsoluteTimeout sets how long a session lives after its creation
// whatever its activity. Any positive duration is valid, also one shorter
// than the idle timeout. Default: 24 hours.
func WithAbsoluteTimeout(d time.Duration) Option { return func(cf *config) { cf.absolute = d } }

// WithTouchInterval sets how much time must pass since the last refresh of
// a session's idle deadline before Get refreshes it again. It must be at
// least zero (refresh on every Get) and shorter than the idle timeout.
// Default: a quarter of the idle timeout.
func WithTouchInterval(d time.Duration) Option {
	return func(cf *config) { cf.touch, cf.touchSet = d, true }
}

// WithMaxPayload sets the largest encoded session, in bytes, that the
// Manager writes; a larger one is ErrTooLarge. Default: 64 KiB.
func WithMaxPayload(bytes int) Option { return func(cf *config) { cf.maxPayload = bytes } }

// WithClock sets the Manager's source of the current time, for tests.
// Backends keep their own clocks. Default: time.Now.
func WithClock(now func() time.Time) Option { return func(cf *config) { cf.clock = now } }

// WithIDGenerator sets the function that makes new session IDs. IDs must be
// unguessable (at least 122 random bits from crypto/rand), 1 to 256 bytes
// of the characters A-Z a-z 0-9 - _ . ~ + / =; with a custom generator the
// Manager accepts any such string as an ID. Default: a UUID v4 string from
// github.com/google/uuid, and only canonical lower-case UUIDs are accepted.
func WithIDGenerator(gen func() (string, error)) Option {
	return func(cf *config) { cf.newID, cf.customID = gen, true }
}

// WithUpdateAttempts sets how many times Update tries its read-modify-write
// before it gives up with ErrConflict. Default: 100.
func WithUpdateAttempts(n int) Option { return func(cf *config) { cf.maxAttempts = n } }

// UpdateAttempts returns how many times Update tries before it gives up
// (WithUpdateAttempts), for callers that retry a write of their own the
// same way (httpsession's Login, around Renew).
func (m *Manager[T]) UpdateAttempts() int { return m.cf.maxAttempts }

// WithDecodeCache sets how many decoded sessions the Manager keeps. A Get
// whose stored payload is byte for byte the one last decoded for that
// session returns a copy of the decoded value instead of decoding again:
// with a caching backend, a hot session then costs no round trip and no
// decoding. The copy is T's Clone (Cloner) or, for plain data, a copy by
// reflection; for other types the option has no effect. The cache also
// holds a copy of what this Manager wrote, so that an Update of a session
// the instance wrote last starts from it without a read (a Get still
// decodes what it reads). 0 turns it off. Default: 4096.
func WithDecodeCache(entries int) Option { return func(cf *config) { cf.decodeCache = entries } }

func newConfig(opts []Option) (config, error) {
	cf := config{
		codec:       codec.MsgPack(),
		idle:        DefaultIdleTimeout,
		absolute:    DefaultAbsoluteTimeout,
		maxPayload:  DefaultMaxPayload,
		clock:       time.Now,
		newID:       uuidV4,
		maxAttempts: DefaultUpdateAttempts,
		decodeCache: DefaultDecodeCache,
		logger:      discard,
	}
	for _, o := range opts {
		o(&cf)
	}
	if !cf.touchSet {
		cf.touch = cf.idle / 4
	}
	var errs []error
	if cf.codec == nil {
		errs = append(errs, errors.New("codec is nil"))
	}
	for _, c := range append([]codec.Codec{cf.codec}, cf.decoders...) {
		if c != nil && (len(c.Name()) == 0 || len(c.Name()) > 255) {
			errs = append(errs, fmt.Errorf("codec name %q must be 1 to 255 bytes", c.Name()))
		}
	}
	if cf.idle <= 0 {
		errs = append(errs, fmt.Errorf("idle timeout %v must be positive", cf.idle))
	}
	if cf.absolute <= 0 {
		errs = append(errs, fmt.Errorf("absolute timeout %v must be positive", cf.absolute))
	}
	if cf.maxAbsolute != 0 && cf.maxAbsolute < cf.absolute {
		errs = append(errs, fmt.Errorf("maximum absolute timeout %v must not be shorter than the absolute timeout %v", cf.maxAbsolute, cf.absolute))
	}
	if cf.touch < 0 || (cf.idle > 0 && cf.touch >= cf.idle) {
		errs = append(errs, fmt.Errorf("touch interval %v must be at least 0 and shorter than the idle timeout %v", cf.touch, cf.idle))
	}
	if cf.maxPayload <= 0 {
		errs = append(errs, fmt.Errorf("max payload %d must be positive", cf.maxPayload))
	}
	if cf.clock == nil {
		errs = append(errs, errors.New("clock is nil"))
	}
	if cf.newID == nil {
		errs = append(errs, errors.New("ID generator is nil"))
	}
	if cf.maxAttempts <= 0 {
		errs = append(errs, fmt.Errorf("update attempts %d must be positive", cf.maxAttempts))
	}
	if cf.decodeCache < 0 {
		errs = append(errs, fmt.Errorf("decode cache size %d must be at least 0", cf.decodeCache))
	}
	if cf.logger == nil {
		errs = append(errs, errors.New("logger is nil"))
	}
	if err := errors.Join(errs...); err != nil {
		return cf, fmt.Errorf("session: invalid options: %w", err)
	}
	return cf, nil
}
