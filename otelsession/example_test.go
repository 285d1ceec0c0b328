package otelsession_test

import (
	"context"
	"fmt"
	"log/slog"
	"os"
	"slices"

	"go.opentelemetry.io/otel/attribute"
	sdkmetric "go.opentelemetry.io/otel/sdk/metric"
	"go.opentelemetry.io/otel/sdk/metric/metricdata"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"

	memorybackend "github.com/sessionkit/sessionkit/backend_memory"
	"github.com/sessionkit/sessionkit/otelsession"
	"github.com/sessionkit/sessionkit/session"
)

// The setup in production: wrap the backend, observe the Manager, log to
// the application's logger. Without WithTracerProvider and
// WithMeterProvider the global providers are used; this example passes SDK
// providers so that it can print what was measured.
func Example() {
	ctx := context.Background()
	reader := sdkmetric.NewManualReader()
	mp := sdkmetric.NewMeterProvider(sdkmetric.WithReader(reader))
	tp := sdktrace.NewTracerProvider() // add an exporter: sdktrace.WithBatcher(exp)
	tel := []otelsession.Option{otelsession.WithMeterProvider(mp), otelsession.WithTracerProvider(tp)}

	b := otelsession.WrapBackend(memorybackend.New(), tel...)
	m, err := session.NewManager[map[string]string](b,
		session.WithObserver(otelsession.NewObserver(tel...)),
		session.WithLogger(slog.New(slog.NewTextHandler(os.Stderr, nil))))
	if err != nil {
		panic(err)
	}
	s, _ := m.Create(ctx, "", map[string]string{"theme": "dark"})
	_, _ = m.Get(ctx, s.ID)
	_, _ = m.Get(ctx, "no-such-session")

	var rm metricdata.ResourceMetrics
	_ = reader.Collect(ctx, &rm)
	var lines []string
	for _, m := range rm.ScopeMetrics[0].Metrics {
		if sum, ok := m.Data.(metricdata.Sum[int64]); ok {
			for _, dp := range sum.DataPoints {
				lines = append(lines, fmt.Sprintf("%s %s %d", m.Name, dp.Attributes.Encoded(attribute.DefaultEncoder()), dp.Value))
			}
		}
	}
	slices.Sort(lines)
	for _, l := range lines {
		fmt.Println(l)
	}
	// Output:
	// sessionkit.session.created  1
	// sessionkit.session.decode_cache.lookups outcome=miss 1
	// sessionkit.session.loads operation=get,outcome=found 1
	// sessionkit.session.loads operation=get,outcome=malformed 1
}
