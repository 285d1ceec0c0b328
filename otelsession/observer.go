package otelsession

import (
	"context"

	"go.opentelemetry.io/otel"
	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/metric"

	"github.com/sessionkit/sessionkit/session"
)

// Names of the Manager's metrics, made by NewObserver. Counters count
// events; the attribute operation is the Manager method in snake case
// (session.Op.String: "get", "get_fresh", "update", ...).
const (
	// CreatedMetric counts sessions created ({session}).
	CreatedMetric = "sessionkit.session.created"
	// RenewedMetric counts sessions moved to a new ID by Renew ({session}).
	RenewedMetric = "sessionkit.session.renewed"
	// DestroyedMetric counts sessions deleted ({session}), with operation
	// destroy, revoke or destroy_by_owner ("log out everywhere"). Destroy
	// and Revoke count 1 also for a session that was already gone.
	DestroyedMetric = "sessionkit.session.destroyed"
	// LoadsMetric counts session lookups ({lookup}) by Get, GetFresh, each
	// Update attempt, and each session ListByOwner reads, with operation
	// and outcome: found, not_found, expired, corrupt, malformed (an ID
	// that cannot be valid, rejected without a backend call) or failed
	// (the backend failed).
	LoadsMetric = "sessionkit.session.loads"
	// DecodeCacheMetric counts lookups of found sessions in the decoded-
	// session cache (session.WithDecodeCache), with outcome hit or miss;
	// nothing when the cache is off for the session type.
	DecodeCacheMetric = "sessionkit.session.decode_cache.lookups"
	// SavedMetric counts sessions written by Save and Update ({session}),
	// with operation.
	SavedMetric = "sessionkit.session.saved"
	// ConflictsMetric counts writes that found the session changed since it
	// was read ({conflict}), with operation save, update or renew.
	ConflictsMetric = "sessionkit.session.conflicts"
	// RetriesMetric counts Update attempts after a conflict ({retry}).
	RetriesMetric = "sessionkit.session.update.retries"
	// ExhaustedMetric counts Updates that gave up after their configured
	// number of attempts ({update}).
	ExhaustedMetric = "sessionkit.session.update.exhausted"
	// PayloadMetric is the histogram of the sizes of the encoded sessions
	// written (By), with operation create, save, update or renew.
	PayloadMetric = "sessionkit.session.payload.size"
)

// payloadBuckets reach the Manager's default maximum payload, 64 KiB.
var payloadBuckets = []float64{64, 128, 256, 512, 1024, 2048, 4096, 8192, 16384, 32768, 65536}

// Observer is a session.Observer that records the Manager's events as
// OpenTelemetry metrics (see the Metric constants). Its measurements have
// no attribute but operation and outcome, whose values are few and fixed:
// never an ID, a handle or an owner. It is safe for concurrent use.
type Observer struct {
	created, renewed, destroyed, saved metric.Int64Counter
	loads, decodeCache                 metric.Int64Counter
	conflicts, retries, exhausted      metric.Int64Counter
	payload                            metric.Int64Histogram

	// Measurement options computed once, so that Observe allocates nothing.
	byOp      [session.NumOps][]metric.AddOption
	byOpRec   [session.NumOps][]metric.RecordOption
	byOutcome [session.NumOps][session.NumOutcomes][]metric.AddOption
	hit, miss []metric.AddOption
}

var _ session.Observer = (*Observer)(nil)

// NewObserver returns an Observer whose instruments come from the meter
// provider of the options. Pass it to session.WithObserver. It uses only
// WithMeterProvider: a Manager's events make no spans (WrapBackend traces
// the backend calls).
func NewObserver(opts ...Option) *Observer {
	m := newConfig(opts).meter()
	o := &Observer{}
	counter := func(name, unit, desc string) metric.Int64Counter {
		c, err := m.Int64Counter(name, metric.WithUnit(unit), metric.WithDescription(desc))
		if err != nil {
			otel.Handle(err)
		}
		return c
	}
	o.created = counter(CreatedMetric, "{session}", "Sessions created.")
	o.renewed = counter(RenewedMetric, "{session}", "Sessions moved to a new ID.")
	o.destroyed = counter(DestroyedMetric, "{session}", "Sessions deleted.")
	o.loads = counter(LoadsMetric, "{lookup}", "Session lookups, by outcome.")
	o.decodeCache = counter(DecodeCacheMetric, "{lookup}", "Decoded-session cache lookups, by outcome.")
	o.saved = counter(SavedMetric, "{session}", "Sessions written by Save and Update.")
	o.conflicts = counter(ConflictsMetric, "{conflict}", "Writes that found the session changed since it was read.")
	o.retries = counter(RetriesMetric, "{retry}", "Update attempts after a conflict.")
	o.exhausted = counter(ExhaustedMetric, "{update}", "Updates that gave up after their attempts.")
	var err error
	o.payload, err = m.Int64Histogram(PayloadMetric, metric.WithUnit("By"),
		metric.WithDescription("Size of the encoded sessions written."),
		metric.WithExplicitBucketBoundaries(payloadBuckets...))
	if err != nil {
		otel.Handle(err)
	}
	for op := range session.NumOps {
		opAttr := AttrOperation.String(session.Op(op).String())
		set := attribute.NewSet(opAttr)
		o.byOp[op] = []metric.AddOption{metric.WithAttributeSet(set)}
		o.byOpRec[op] = []metric.RecordOption{metric.WithAttributeSet(set)}
		for out := range session.NumOutcomes {
			set := attribute.NewSet(opAttr, AttrOutcome.String(session.Outcome(out).String()))
			o.byOutcome[op][out] = []metric.AddOption{metric.WithAttributeSet(set)}
		}
	}
	o.hit = []metric.AddOption{metric.WithAttributeSet(attribute.NewSet(AttrOutcome.String("hit")))}
	o.miss = []metric.AddOption{metric.WithAttributeSet(attribute.NewSet(AttrOutcome.String("miss")))}
	return o
}

// Observe records e. Events of unknown kinds, or with an unknown Op or
// Outcome, are ignored.
func (o *Observer) Observe(ctx context.Context, e session.Event) {
	if int(e.Op) >= session.NumOps || int(e.Outcome) >= session.NumOutcomes {
		return
	}
	switch e.Kind {
	case session.EventLoaded:
		o.loads.Add(ctx, 1, o.byOutcome[e.Op][e.Outcome]...)
		switch e.Cache {
		case session.CacheHit:
			o.decodeCache.Add(ctx, 1, o.hit...)
		case session.CacheMiss:
			o.decodeCache.Add(ctx, 1, o.miss...)
		}
	case session.EventCreated:
		o.created.Add(ctx, 1)
		o.payload.Record(ctx, int64(e.Bytes), o.byOpRec[e.Op]...)
	case session.EventSaved:
		o.saved.Add(ctx, 1, o.byOp[e.Op]...)
		o.payload.Record(ctx, int64(e.Bytes), o.byOpRec[e.Op]...)
	case session.EventRenewed:
		o.renewed.Add(ctx, 1)
		o.payload.Record(ctx, int64(e.Bytes), o.byOpRec[e.Op]...)
	case session.EventDestroyed:
		o.destroyed.Add(ctx, int64(e.N), o.byOp[e.Op]...)
	case session.EventConflict:
		o.conflicts.Add(ctx, 1, o.byOp[e.Op]...)
	case session.EventRetry:
		o.retries.Add(ctx, 1)
	case session.EventExhausted:
		o.exhausted.Add(ctx, 1)
	}
}
