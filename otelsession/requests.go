package otelsession

import (
	"context"

	"go.opentelemetry.io/otel"
	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/metric"

	"github.com/sessionkit/sessionkit/session/httpsession"
)

// RequestsMetric counts the requests that went through an
// httpsession.Middleware ({request}), with the boolean attributes touched
// (the handler used the session) and set_cookie (the response set or
// cleared the session cookie).
const RequestsMetric = "sessionkit.http.requests"

// Attribute keys of RequestsMetric.
const (
	AttrTouched   = attribute.Key("touched")
	AttrSetCookie = attribute.Key("set_cookie")
)

// RequestObserver is an httpsession.RequestObserver that counts requests
// in RequestsMetric. It is safe for concurrent use.
type RequestObserver struct {
	requests metric.Int64Counter
	opts     [2][2][]metric.AddOption // [touched][set_cookie]
}

var _ httpsession.RequestObserver = (*RequestObserver)(nil)

// NewRequestObserver returns a RequestObserver whose counter comes from
// the meter provider of the options. Pass it to
// httpsession.WithRequestObserver.
func NewRequestObserver(opts ...Option) *RequestObserver {
	o := &RequestObserver{}
	var err error
	o.requests, err = newConfig(opts).meter().Int64Counter(RequestsMetric, metric.WithUnit("{request}"),
		metric.WithDescription("Requests through the session middleware, by whether they used the session and set its cookie."))
	if err != nil {
		otel.Handle(err)
	}
	for t := range 2 {
		for c := range 2 {
			set := attribute.NewSet(AttrTouched.Bool(t == 1), AttrSetCookie.Bool(c == 1))
			o.opts[t][c] = []metric.AddOption{metric.WithAttributeSet(set)}
		}
	}
	return o
}

// ObserveRequest counts the request.
func (o *RequestObserver) ObserveRequest(ctx context.Context, e httpsession.RequestEvent) {
	o.requests.Add(ctx, 1, o.opts[b2i(e.Touched)][b2i(e.SetCookie)]...)
}

func b2i(b bool) int {
	if b {
		return 1
	}
	return 0
}
