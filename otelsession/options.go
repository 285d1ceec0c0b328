package otelsession

import (
	"go.opentelemetry.io/otel"
	"go.opentelemetry.io/otel/metric"
	"go.opentelemetry.io/otel/trace"
)

// ScopeName is the instrumentation scope of every tracer and meter this
// package makes.
const ScopeName = "github.com/sessionkit/sessionkit/otelsession"

// Option configures WrapBackend, NewObserver and NewRequestObserver.
// The last option of a kind wins.
type Option func(*config)

type config struct {
	tp trace.TracerProvider
	mp metric.MeterProvider
}

// WithTracerProvider sets the provider of the tracer that makes the spans.
// A nil provider means the default. Default: the global provider
// (otel.GetTracerProvider), as it is when WrapBackend is called; the
// global provider delegates to one installed later.
func WithTracerProvider(tp trace.TracerProvider) Option { return func(c *config) { c.tp = tp } }

// WithMeterProvider sets the provider of the meter that makes the
// instruments. A nil provider means the default. Default: the global
// provider (otel.GetMeterProvider), as it is when the constructor is
// called; the global provider delegates to one installed later.
func WithMeterProvider(mp metric.MeterProvider) Option { return func(c *config) { c.mp = mp } }

func newConfig(opts []Option) config {
	var c config
	for _, o := range opts {
		o(&c)
	}
	if c.tp == nil {
		c.tp = otel.GetTracerProvider()
	}
	if c.mp == nil {
		c.mp = otel.GetMeterProvider()
	}
	return c
}

func (c config) meter() metric.Meter { return c.mp.Meter(ScopeName) }

func (c config) tracer() trace.Tracer { return c.tp.Tracer(ScopeName) }
