package otelsession_test

import (
	"context"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/codes"
	sdkmetric "go.opentelemetry.io/otel/sdk/metric"
	"go.opentelemetry.io/otel/sdk/metric/metricdata"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	"go.opentelemetry.io/otel/sdk/trace/tracetest"

	"github.com/sessionkit/sessionkit/backend"
	memorybackend "github.com/sessionkit/sessionkit/backend_memory"
	"github.com/sessionkit/sessionkit/otelsession"
	"github.com/sessionkit/sessionkit/session"
)

type cart struct {
	Items []string
	N     int
}

// telemetry is an SDK tracer and meter provider whose output a test reads.
type telemetry struct {
	spans  *tracetest.SpanRecorder
	reader *sdkmetric.ManualReader
	tp     *sdktrace.TracerProvider
	opts   []otelsession.Option
}

// traced returns a context with a recording span, as a traced request has
// (the span is never ended, so it is not among the recorded ones).
func (tel *telemetry) traced() context.Context {
	ctx, _ := tel.tp.Tracer("test").Start(context.Background(), "request")
	return ctx
}

func newTelemetry(t *testing.T) *telemetry {
	tel := &telemetry{spans: tracetest.NewSpanRecorder(), reader: sdkmetric.NewManualReader()}
	tp := sdktrace.NewTracerProvider(sdktrace.WithSpanProcessor(tel.spans))
	mp := sdkmetric.NewMeterProvider(sdkmetric.WithReader(tel.reader))
	t.Cleanup(func() {
		_ = tp.Shutdown(context.Background())
		_ = mp.Shutdown(context.Background())
	})
	tel.tp = tp
	tel.opts = []otelsession.Option{otelsession.WithTracerProvider(tp), otelsession.WithMeterProvider(mp)}
	return tel
}

// point is one data point: a metric's name, unit and attributes, its sum
// (counters) or count (histograms).
type point struct {
	name, unit string
	attrs      attribute.Set
	value      int64
}

func (tel *telemetry) collect(t *testing.T) []point {
	t.Helper()
	var rm metricdata.ResourceMetrics
	require.NoError(t, tel.reader.Collect(context.Background(), &rm))
	var out []point
	for _, sm := range rm.ScopeMetrics {
		assert.Equal(t, otelsession.ScopeName, sm.Scope.Name)
		for _, m := range sm.Metrics {
			switch d := m.Data.(type) {
			case metricdata.Sum[int64]:
				assert.True(t, d.IsMonotonic, m.Name)
				for _, dp := range d.DataPoints {
					out = append(out, point{m.Name, m.Unit, dp.Attributes, dp.Value})
				}
			case metricdata.Histogram[int64]:
				for _, dp := range d.DataPoints {
					out = append(out, point{m.Name, m.Unit, dp.Attributes, int64(dp.Count)})
				}
			case metricdata.Histogram[float64]:
				for _, dp := range d.DataPoints {
					out = append(out, point{m.Name, m.Unit, dp.Attributes, int64(dp.Count)})
				}
			default:
				t.Errorf("metric %s has data of type %T", m.Name, m.Data)
			}
		}
	}
	return out
}

// value returns the value of the point of name with exactly the given
// attributes (key, value, key, value, ...), 0 if there is none.
func value(ps []point, name string, kv ...string) int64 {
	var attrs []attribute.KeyValue
	for i := 0; i+1 < len(kv); i += 2 {
		attrs = append(attrs, attribute.String(kv[i], kv[i+1]))
	}
	want := attribute.NewSet(attrs...)
	for _, p := range ps {
		if p.name == name && p.attrs.Equals(&want) {
			return p.value
		}
	}
	return 0
}

// TestManagerTelemetry drives a Manager over a wrapped backend with the
// observer and checks the spans and metrics, and that none of them holds
// an ID, a handle or an owner.
func TestManagerTelemetry(t *testing.T) {
	tel := newTelemetry(t)
	ctx := tel.traced()
	mem := memorybackend.New()
	t.Cleanup(func() { mem.Close() })
	b := otelsession.WrapBackend(mem, tel.opts...)
	obs := session.WithObserver(otelsession.NewObserver(tel.opts...))
	m, err := session.NewManager[cart](b, obs)
	require.NoError(t, err)
	impatient, err := session.NewManager[cart](b, obs, session.WithUpdateAttempts(2))
	require.NoError(t, err)
	other, err := session.NewManager[cart](b)
	require.NoError(t, err)

	var secrets []string // IDs, handles and owners: none may appear
	keep := func(s *session.Session[cart]) { secrets = append(secrets, s.ID, s.Handle()) }
	const owner = "owner-ada@example.com"
	secrets = append(secrets, owner)

	s, err := m.Create(ctx, owner, cart{Items: []string{"apple"}})
	require.NoError(t, err)
	keep(s)
	for range 2 {
		_, err = m.Get(ctx, s.ID)
		require.NoError(t, err)
	}
	_, err = m.GetFresh(ctx, s.ID)
	require.NoError(t, err)
	_, err = m.Get(ctx, "malformed")
	require.ErrorIs(t, err, session.ErrNotFound)
	_, err = m.Get(ctx, "00000000-0000-4000-8000-000000000000")
	require.ErrorIs(t, err, session.ErrNotFound)
	stale, err := m.Get(ctx, s.ID)
	require.NoError(t, err)
	s.Data.N = 1
	require.NoError(t, m.Save(ctx, s))
	require.ErrorIs(t, m.Save(ctx, stale), session.ErrConflict)
	s, err = m.Update(ctx, s.ID, func(s *session.Session[cart]) error { s.Data.N++; return nil })
	require.NoError(t, err)
	_, err = impatient.Update(ctx, s.ID, func(*session.Session[cart]) error {
		_, err := other.Update(ctx, s.ID, func(o *session.Session[cart]) error { o.Data.N++; return nil })
		return err
	})
	require.ErrorIs(t, err, session.ErrConflict)
	s, err = m.Get(ctx, s.ID)
	require.NoError(t, err)
	require.NoError(t, m.Renew(ctx, s))
	keep(s)
	s2, err := m.Create(ctx, owner, cart{})
	require.NoError(t, err)
	keep(s2)
	require.NoError(t, m.Destroy(ctx, s.ID))
	n, err := m.DestroyByOwner(ctx, owner)
	require.NoError(t, err)
	require.Equal(t, 1, n)

	ps := tel.collect(t)
	units := map[string]string{}
	for _, p := range ps {
		units[p.name] = p.unit
	}
	assert.Equal(t, map[string]string{
		otelsession.BackendDurationMetric: "s",
		otelsession.CreatedMetric:         "{session}",
		otelsession.RenewedMetric:         "{session}",
		otelsession.DestroyedMetric:       "{session}",
		otelsession.LoadsMetric:           "{lookup}",
		otelsession.DecodeCacheMetric:     "{lookup}",
		otelsession.SavedMetric:           "{session}",
		otelsession.ConflictsMetric:       "{conflict}",
		otelsession.RetriesMetric:         "{retry}",
		otelsession.ExhaustedMetric:       "{update}",
		otelsession.PayloadMetric:         "By",
	}, units, "metric names and units")

	for _, c := range []struct {
		name string
		kv   []string
		want int64
	}{
		{otelsession.CreatedMetric, nil, 2},
		{otelsession.RenewedMetric, nil, 1},
		{otelsession.DestroyedMetric, []string{"operation", "destroy"}, 1},
		{otelsession.DestroyedMetric, []string{"operation", "destroy_by_owner"}, 1},
		{otelsession.LoadsMetric, []string{"operation", "get", "outcome", "found"}, 4},
		{otelsession.LoadsMetric, []string{"operation", "get_fresh", "outcome", "found"}, 1},
		{otelsession.LoadsMetric, []string{"operation", "get", "outcome", "malformed"}, 1},
		{otelsession.LoadsMetric, []string{"operation", "get", "outcome", "not_found"}, 1},
		{otelsession.LoadsMetric, []string{"operation", "update", "outcome", "found"}, 3},
		// Each Manager has its own decode cache: m misses on the first Get
		// and after the other instance's writes, and its Update starts from
		// what its Save wrote (a hit); impatient misses on both of its
		// attempts (a read, then the record its conflict carried).
		{otelsession.DecodeCacheMetric, []string{"outcome", "miss"}, 2 + 2},
		{otelsession.DecodeCacheMetric, []string{"outcome", "hit"}, 4},
		{otelsession.SavedMetric, []string{"operation", "save"}, 1},
		{otelsession.SavedMetric, []string{"operation", "update"}, 1},
		{otelsession.ConflictsMetric, []string{"operation", "save"}, 1},
		{otelsession.ConflictsMetric, []string{"operation", "update"}, 2},
		{otelsession.RetriesMetric, nil, 1},
		{otelsession.ExhaustedMetric, nil, 1},
		{otelsession.PayloadMetric, []string{"operation", "create"}, 2},
		{otelsession.PayloadMetric, []string{"operation", "update"}, 1},
		{otelsession.PayloadMetric, []string{"operation", "renew"}, 1},
		// Backend calls of all three Managers: Create twice, Load for
		// each Get but the malformed one (m 5 found), for impatient's first
		// attempt and other's first Update (the retries start from the
		// record the conflict carried, other's second Update from what it
		// wrote), Update for the saves, the conflicts and the other
		// instance's two writes.
		{otelsession.BackendDurationMetric, []string{"operation", "create", "outcome", "ok"}, 2},
		{otelsession.BackendDurationMetric, []string{"operation", "load", "outcome", "ok"}, 5 + 1 + 1},
		{otelsession.BackendDurationMetric, []string{"operation", "load", "outcome", "not_found"}, 1},
		{otelsession.BackendDurationMetric, []string{"operation", "update", "outcome", "ok"}, 2 + 2},
		{otelsession.BackendDurationMetric, []string{"operation", "update", "outcome", "conflict"}, 3},
		{otelsession.BackendDurationMetric, []string{"operation", "rekey", "outcome", "ok"}, 1},
		{otelsession.BackendDurationMetric, []string{"operation", "delete", "outcome", "ok"}, 1},
		{otelsession.BackendDurationMetric, []string{"operation", "delete_by_owner", "outcome", "ok"}, 1},
	} {
		assert.Equal(t, c.want, value(ps, c.name, c.kv...), "%s %v", c.name, c.kv)
	}

	spans := tel.spans.Ended()
	require.NotEmpty(t, spans)
	names := map[string]int{}
	for _, sp := range spans {
		names[sp.Name()]++
		assert.Equal(t, otelsession.ScopeName, sp.InstrumentationScope().Name)
		attrs := attribute.NewSet(sp.Attributes()...)
		op, ok := attrs.Value(otelsession.AttrOperation)
		require.True(t, ok, "span %s has no operation", sp.Name())
		assert.Equal(t, "sessionkit.backend."+op.AsString(), sp.Name())
		_, ok = attrs.Value(otelsession.AttrOutcome)
		assert.True(t, ok, "span %s has no outcome", sp.Name())
		assert.Equal(t, codes.Unset, sp.Status().Code, "not found and conflict are answers, not errors")
	}
	assert.Equal(t, 8, names["sessionkit.backend.load"])
	assert.Equal(t, 7, names["sessionkit.backend.update"])

	// Nothing holds an ID, a handle or the owner.
	var texts []string
	for _, sp := range spans {
		texts = append(texts, sp.Name(), sp.Status().Description)
		for _, kv := range sp.Attributes() {
			texts = append(texts, string(kv.Key), kv.Value.String())
		}
		for _, ev := range sp.Events() {
			texts = append(texts, ev.Name)
			for _, kv := range ev.Attributes {
				texts = append(texts, kv.Value.String())
			}
		}
	}
	for _, p := range ps {
		for _, kv := range p.attrs.ToSlice() {
			texts = append(texts, string(kv.Key), kv.Value.String())
		}
	}
	for _, text := range texts {
		for _, secret := range secrets {
			if strings.Contains(text, secret) {
				t.Errorf("telemetry holds %q: %q", secret, text)
			}
		}
	}
}

// TestBackendFailureTelemetry: a store failure is an Error span and a
// measurement with its outcome; the span holds no error message.
func TestBackendFailureTelemetry(t *testing.T) {
	tel := newTelemetry(t)
	w := otelsession.WrapBackend(&full{}, tel.opts...)
	_, err := w.(backend.FreshLoader).LoadFresh(tel.traced(), "key")
	require.ErrorIs(t, err, backend.ErrUnavailable, "the error passes through unchanged")
	spans := tel.spans.Ended()
	require.Len(t, spans, 1)
	sp := spans[0]
	assert.Equal(t, "sessionkit.backend.load_fresh", sp.Name())
	assert.Equal(t, codes.Error, sp.Status().Code)
	assert.Equal(t, "unavailable", sp.Status().Description)
	assert.Empty(t, sp.Events(), "no error message in the span")
	assert.Equal(t, int64(1), value(tel.collect(t), otelsession.BackendDurationMetric, "operation", "load_fresh", "outcome", "unavailable"))
}

// TestNoSpanOutsideATrace: a call whose context has no recording span is
// measured but starts no trace.
func TestNoSpanOutsideATrace(t *testing.T) {
	tel := newTelemetry(t)
	w := otelsession.WrapBackend(&full{}, tel.opts...)
	_, err := w.Load(context.Background(), "key")
	require.ErrorIs(t, err, backend.ErrNotFound)
	unsampled, _ := sdktrace.NewTracerProvider(sdktrace.WithSampler(sdktrace.NeverSample())).Tracer("test").Start(context.Background(), "request")
	_, err = w.Load(unsampled, "key")
	require.ErrorIs(t, err, backend.ErrNotFound)
	assert.Empty(t, tel.spans.Ended())
	assert.Equal(t, int64(2), value(tel.collect(t), otelsession.BackendDurationMetric, "operation", "load", "outcome", "not_found"))
}
