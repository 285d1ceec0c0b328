package otelsession

import (
	"context"
	"errors"
	"time"

	"go.opentelemetry.io/otel"
	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/codes"
	"go.opentelemetry.io/otel/metric"
	"go.opentelemetry.io/otel/trace"

	"github.com/sessionkit/sessionkit/backend"
)

// WrapBackend returns b with a duration measurement around every call,
// and a span around every call made within a recorded trace:
//
//   - the histogram sessionkit.backend.operation.duration, in seconds,
//     with the attributes operation ("load", "load_fresh", "create",
//     "update", "touch", "delete", "rekey", "list_by_owner",
//     "delete_by_owner") and outcome;
//   - if the context carries a recording span (a traced request), a child
//     span named "sessionkit.backend." and the operation, of kind
//     internal, with the same two attributes, and status Error when the
//     outcome is a failure of the store (see below). A call outside any
//     recorded trace starts no trace of its own: a hot Get of an untraced
//     request then costs no span at all.
//
// The outcome is "ok", an outcome of the contract ("not_found",
// "conflict", "exists"), or a failure: "not_durable", "corrupt",
// "unavailable", "canceled", "deadline_exceeded", "error". Neither spans
// nor measurements hold a storage key, an owner or an error message (the
// logs of session.WithLogger have the message): their cardinality stays
// bounded and nothing in them identifies a session.
//
// The returned Backend has exactly the optional capabilities of b
// (backend.OwnerIndex, backend.Rekeyer, backend.FreshLoader,
// backend.Notifier), each wrapped too (Subscribe untraced), so the Manager
// takes the same paths with and without the wrapper. Its Unwrap method returns b. WrapBackend(nil) is nil.
func WrapBackend(b backend.Backend, opts ...Option) backend.Backend {
	if b == nil {
		return nil
	}
	return withCapabilities(&core{b: b, t: newBackendTelemetry(newConfig(opts))})
}

// core is the wrapper of the core methods, embedded in each combination
// of capabilities (capabilities.go).
type core struct {
	b backend.Backend
	t *backendTelemetry
}

var _ backend.Backend = (*core)(nil)

// Unwrap returns the wrapped backend.
func (w *core) Unwrap() backend.Backend { return w.b }

// Create is the wrapped backend's Create, traced and measured.
func (w *core) Create(ctx context.Context, rec backend.Record) (backend.Record, error) {
	ctx, sp, t0 := w.t.start(ctx, opCreate)
	r, err := w.b.Create(ctx, rec)
	w.t.end(ctx, sp, opCreate, t0, err)
	return r, err
}

// Load is the wrapped backend's Load, traced and measured.
func (w *core) Load(ctx context.Context, key string) (backend.Record, error) {
	ctx, sp, t0 := w.t.start(ctx, opLoad)
	r, err := w.b.Load(ctx, key)
	w.t.end(ctx, sp, opLoad, t0, err)
	return r, err
}

// Update is the wrapped backend's Update, traced and measured.
func (w *core) Update(ctx context.Context, rec backend.Record) (backend.Record, error) {
	ctx, sp, t0 := w.t.start(ctx, opUpdate)
	r, err := w.b.Update(ctx, rec)
	w.t.end(ctx, sp, opUpdate, t0, err)
	return r, err
}

// Touch is the wrapped backend's Touch, traced and measured.
func (w *core) Touch(ctx context.Context, key string, idleDeadline time.Time) error {
	ctx, sp, t0 := w.t.start(ctx, opTouch)
	err := w.b.Touch(ctx, key, idleDeadline)
	w.t.end(ctx, sp, opTouch, t0, err)
	return err
}

// Delete is the wrapped backend's Delete, traced and measured.
func (w *core) Delete(ctx context.Context, key string) error {
	ctx, sp, t0 := w.t.start(ctx, opDelete)
	err := w.b.Delete(ctx, key)
	w.t.end(ctx, sp, opDelete, t0, err)
	return err
}

// Close closes the wrapped backend; it is not traced.
func (w *core) Close() error { return w.b.Close() }

// backendOp is a backend method.
type backendOp uint8

const (
	opCreate backendOp = iota
	opLoad
	opLoadFresh
	opUpdate
	opTouch
	opDelete
	opRekey
	opListByOwner
	opDeleteByOwner
	numBackendOps
)

var backendOpNames = [numBackendOps]string{
	opCreate: "create", opLoad: "load", opLoadFresh: "load_fresh", opUpdate: "update", opTouch: "touch",
	opDelete: "delete", opRekey: "rekey", opListByOwner: "list_by_owner", opDeleteByOwner: "delete_by_owner",
}

// outcome classifies what a backend call returned.
type outcome uint8

const (
	outcomeOK outcome = iota
	outcomeNotFound
	outcomeConflict
	outcomeExists
	outcomeNotDurable
	outcomeCorrupt
	outcomeUnavailable
	outcomeCanceled
	outcomeDeadline
	outcomeError
	numOutcomes
)

var outcomeNames = [numOutcomes]string{
	outcomeOK: "ok", outcomeNotFound: "not_found", outcomeConflict: "conflict", outcomeExists: "exists",
	outcomeNotDurable: "not_durable", outcomeCorrupt: "corrupt", outcomeUnavailable: "unavailable",
	outcomeCanceled: "canceled", outcomeDeadline: "deadline_exceeded", outcomeError: "error",
}

// failed reports whether the outcome is a failure of the store rather
// than an answer of the contract.
func (o outcome) failed() bool { return o >= outcomeNotDurable }

// classify returns the outcome of err: the answers of the contract
// first, then ErrNotDurable (a write that was applied), then the causes of
// a failure, the caller's context before the store's.
func classify(err error) outcome {
	switch {
	case err == nil:
		return outcomeOK
	case errors.Is(err, backend.ErrNotFound):
		return outcomeNotFound
	case errors.Is(err, backend.ErrConflict):
		return outcomeConflict
	case errors.Is(err, backend.ErrExists):
		return outcomeExists
	case errors.Is(err, backend.ErrNotDurable):
		return outcomeNotDurable
	case errors.Is(err, context.Canceled):
		return outcomeCanceled
	case errors.Is(err, context.DeadlineExceeded):
		return outcomeDeadline
	case errors.Is(err, backend.ErrUnavailable):
		return outcomeUnavailable
	case errors.Is(err, backend.ErrCorrupt):
		return outcomeCorrupt
	}
	return outcomeError
}

// Attribute keys of spans and measurements.
const (
	// AttrOperation is the operation: a backend method in snake case
	// ("load") for the backend's telemetry, a Manager method ("get") for
	// the Manager's.
	AttrOperation = attribute.Key("operation")
	// AttrOutcome is how the operation ended ("ok", "not_found", ...).
	AttrOutcome = attribute.Key("outcome")
)

// BackendDurationMetric is the name of the histogram of backend call
// durations, in seconds.
const BackendDurationMetric = "sessionkit.backend.operation.duration"

// backendTelemetry holds the instruments and, computed once, every span
// name and attribute set a call can need, so that a call allocates nothing
// for them.
type backendTelemetry struct {
	tracer    trace.Tracer
	duration  metric.Float64Histogram
	spanNames [numBackendOps]string
	ops       [numBackendOps]attribute.KeyValue
	recOpts   [numBackendOps][numOutcomes][]metric.RecordOption
	outcomes  [numOutcomes]attribute.KeyValue
}

// spanKind is the only start option: attributes given at the start would
// be copied into every span, sampled or not, so they are set at the end,
// on recording spans only.
var spanKind = []trace.SpanStartOption{trace.WithSpanKind(trace.SpanKindInternal)}

// durationBuckets span a cached read (microseconds) to a timeout
// (seconds).
var durationBuckets = []float64{
	0.00001, 0.000025, 0.00005, 0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005,
	0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10,
}

func newBackendTelemetry(c config) *backendTelemetry {
	t := &backendTelemetry{tracer: c.tracer()}
	var err error
	t.duration, err = c.meter().Float64Histogram(BackendDurationMetric,
		metric.WithUnit("s"),
		metric.WithDescription("Duration of session backend calls."),
		metric.WithExplicitBucketBoundaries(durationBuckets...))
	if err != nil {
		otel.Handle(err)
	}
	for o := range numOutcomes {
		t.outcomes[o] = AttrOutcome.String(outcomeNames[o])
	}
	for op := range numBackendOps {
		name := backendOpNames[op]
		t.spanNames[op] = "sessionkit.backend." + name
		t.ops[op] = AttrOperation.String(name)
		for o := range numOutcomes {
			set := attribute.NewSet(t.ops[op], t.outcomes[o])
			t.recOpts[op][o] = []metric.RecordOption{metric.WithAttributeSet(set)}
		}
	}
	return t
}

// start begins the span of a call, if the call is part of a recorded
// trace (see WrapBackend), and its measurement.
func (t *backendTelemetry) start(ctx context.Context, op backendOp) (context.Context, trace.Span, time.Time) {
	var sp trace.Span
	if trace.SpanFromContext(ctx).IsRecording() {
		ctx, sp = t.tracer.Start(ctx, t.spanNames[op], spanKind...)
	}
	return ctx, sp, time.Now()
}

// end records the call's duration and ends its span, if it has one.
func (t *backendTelemetry) end(ctx context.Context, sp trace.Span, op backendOp, t0 time.Time, err error) {
	d := time.Since(t0).Seconds()
	o := classify(err)
	t.duration.Record(ctx, d, t.recOpts[op][o]...)
	if sp == nil {
		return
	}
	if sp.IsRecording() {
		sp.SetAttributes(t.ops[op], t.outcomes[o])
		if o.failed() {
			sp.SetStatus(codes.Error, outcomeNames[o])
		}
	}
	sp.End()
}
