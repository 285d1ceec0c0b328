package otelsession

import (
	"context"
	"errors"
	"sync/atomic"

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
//
// The counters are asynchronous (observable) instruments: Observe adds to
// an atomic count, and the meter reads the counts when it collects, so an
// event on the hot path (a Get) costs an atomic add, not a synchronous
// measurement. Only the payload-size histogram, recorded on writes, is
// synchronous.
type Observer struct {
	created, renewed, retries, exhausted atomic.Int64
	destroyed, saved, conflicts          [session.NumOps]atomic.Int64
	loads                                [session.NumOps][session.NumOutcomes]atomic.Int64
	hits, misses                         atomic.Int64

	payload metric.Int64Histogram
	byOpRec [session.NumOps][]metric.RecordOption // computed once: Record allocates nothing for them

	// attribute sets of the observations
	opSets      [session.NumOps]metric.ObserveOption
	outcomeSets [session.NumOps][session.NumOutcomes]metric.ObserveOption
	hitSet      metric.ObserveOption
	missSet     metric.ObserveOption
}

var _ session.Observer = (*Observer)(nil)

// NewObserver returns an Observer whose instruments come from the meter
// provider of the options. Pass it to session.WithObserver. It uses only
// WithMeterProvider: a Manager's events make no spans (WrapBackend traces
// the backend calls).
func NewObserver(opts ...Option) *Observer {
	m := newConfig(opts).meter()
	o := &Observer{}
	for op := range session.NumOps {
		opAttr := AttrOperation.String(session.Op(op).String())
		set := attribute.NewSet(opAttr)
		o.opSets[op] = metric.WithAttributeSet(set)
		o.byOpRec[op] = []metric.RecordOption{metric.WithAttributeSet(set)}
		for out := range session.NumOutcomes {
			o.outcomeSets[op][out] = metric.WithAttributeSet(attribute.NewSet(opAttr, AttrOutcome.String(session.Outcome(out).String())))
		}
	}
	o.hitSet = metric.WithAttributeSet(attribute.NewSet(AttrOutcome.String("hit")))
	o.missSet = metric.WithAttributeSet(attribute.NewSet(AttrOutcome.String("miss")))

	var errs []error
	counter := func(name, unit, desc string) metric.Int64ObservableCounter {
		c, err := m.Int64ObservableCounter(name, metric.WithUnit(unit), metric.WithDescription(desc))
		errs = append(errs, err)
		return c
	}
	created := counter(CreatedMetric, "{session}", "Sessions created.")
	renewed := counter(RenewedMetric, "{session}", "Sessions moved to a new ID.")
	destroyed := counter(DestroyedMetric, "{session}", "Sessions deleted.")
	loads := counter(LoadsMetric, "{lookup}", "Session lookups, by outcome.")
	decodeCache := counter(DecodeCacheMetric, "{lookup}", "Decoded-session cache lookups, by outcome.")
	saved := counter(SavedMetric, "{session}", "Sessions written by Save and Update.")
	conflicts := counter(ConflictsMetric, "{conflict}", "Writes that found the session changed since it was read.")
	retries := counter(RetriesMetric, "{retry}", "Update attempts after a conflict.")
	exhausted := counter(ExhaustedMetric, "{update}", "Updates that gave up after their attempts.")
	var err error
	o.payload, err = m.Int64Histogram(PayloadMetric, metric.WithUnit("By"),
		metric.WithDescription("Size of the encoded sessions written."),
		metric.WithExplicitBucketBoundaries(payloadBuckets...))
	errs = append(errs, err)
	_, err = m.RegisterCallback(func(_ context.Context, obs metric.Observer) error {
		observe := func(c metric.Int64ObservableCounter, n *atomic.Int64, opt ...metric.ObserveOption) {
			if v := n.Load(); v > 0 {
				obs.ObserveInt64(c, v, opt...)
			}
		}
		observe(created, &o.created)
		observe(renewed, &o.renewed)
		observe(retries, &o.retries)
		observe(exhausted, &o.exhausted)
		observe(decodeCache, &o.hits, o.hitSet)
		observe(decodeCache, &o.misses, o.missSet)
		for op := range session.NumOps {
			observe(destroyed, &o.destroyed[op], o.opSets[op])
			observe(saved, &o.saved[op], o.opSets[op])
			observe(conflicts, &o.conflicts[op], o.opSets[op])
			for out := range session.NumOutcomes {
				observe(loads, &o.loads[op][out], o.outcomeSets[op][out])
			}
		}
		return nil
	}, created, renewed, destroyed, loads, decodeCache, saved, conflicts, retries, exhausted)
	errs = append(errs, err)
	if err := errors.Join(errs...); err != nil {
		otel.Handle(err)
	}
	return o
}

// Observe records e. Events of unknown kinds, or with an unknown Op or
// Outcome, are ignored.
func (o *Observer) Observe(ctx context.Context, e session.Observation) {
	if int(e.Op) >= session.NumOps || int(e.Outcome) >= session.NumOutcomes {
		return
	}
	switch e.Kind {
	case session.ObservedLoaded:
		o.loads[e.Op][e.Outcome].Add(1)
		switch e.Cache {
		case session.CacheHit:
			o.hits.Add(1)
		case session.CacheMiss:
			o.misses.Add(1)
		}
	case session.ObservedCreated:
		o.created.Add(1)
		o.payload.Record(ctx, int64(e.Bytes), o.byOpRec[e.Op]...)
	case session.ObservedSaved:
		o.saved[e.Op].Add(1)
		o.payload.Record(ctx, int64(e.Bytes), o.byOpRec[e.Op]...)
	case session.ObservedRenewed:
		o.renewed.Add(1)
		o.payload.Record(ctx, int64(e.Bytes), o.byOpRec[e.Op]...)
	case session.ObservedDestroyed:
		o.destroyed[e.Op].Add(int64(e.N))
	case session.ObservedConflict:
		o.conflicts[e.Op].Add(1)
	case session.ObservedRetry:
		o.retries.Add(1)
	case session.ObservedExhausted:
		o.exhausted.Add(1)
	}
}
