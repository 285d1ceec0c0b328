package otelsession

import (
	"context"

	"github.com/sessionkit/sessionkit/backend"
)

// The wrapper must have exactly the capabilities of the backend it wraps:
// a wrapper that had fewer would switch Manager paths off (no fresh reads,
// no atomic renew), one that had more would claim what the backend cannot
// do. Go finds capabilities by type assertion, so there is one wrapper type
// per combination of the three, each embedding *core for the core
// methods and one small type per capability it has.

type ownerIndex struct {
	w   *core
	idx backend.OwnerIndex
}

// ListByOwner is the wrapped backend's ListByOwner, traced and measured.
func (o ownerIndex) ListByOwner(ctx context.Context, owner string) ([]backend.Record, error) {
	ctx, sp, t0 := o.w.t.start(ctx, opListByOwner)
	recs, err := o.idx.ListByOwner(ctx, owner)
	o.w.t.end(ctx, sp, opListByOwner, t0, err)
	return recs, err
}

// DeleteByOwner is the wrapped backend's DeleteByOwner, traced and
// measured.
func (o ownerIndex) DeleteByOwner(ctx context.Context, owner string) (int, error) {
	ctx, sp, t0 := o.w.t.start(ctx, opDeleteByOwner)
	n, err := o.idx.DeleteByOwner(ctx, owner)
	o.w.t.end(ctx, sp, opDeleteByOwner, t0, err)
	return n, err
}

type rekeyer struct {
	w *core
	r backend.Rekeyer
}

// Rekey is the wrapped backend's Rekey, traced and measured.
func (r rekeyer) Rekey(ctx context.Context, rec backend.Record, newKey string) (backend.Record, error) {
	ctx, sp, t0 := r.w.t.start(ctx, opRekey)
	out, err := r.r.Rekey(ctx, rec, newKey)
	r.w.t.end(ctx, sp, opRekey, t0, err)
	return out, err
}

type freshLoader struct {
	w *core
	f backend.FreshLoader
}

// LoadFresh is the wrapped backend's LoadFresh, traced and measured.
func (f freshLoader) LoadFresh(ctx context.Context, key string) (backend.Record, error) {
	ctx, sp, t0 := f.w.t.start(ctx, opLoadFresh)
	r, err := f.f.LoadFresh(ctx, key)
	f.w.t.end(ctx, sp, opLoadFresh, t0, err)
	return r, err
}

// The eight combinations, named by the capabilities they have: O
// (OwnerIndex), R (Rekeyer), F (FreshLoader).
type (
	backendO struct {
		*core
		ownerIndex
	}
	backendR struct {
		*core
		rekeyer
	}
	backendF struct {
		*core
		freshLoader
	}
	backendOR struct {
		*core
		ownerIndex
		rekeyer
	}
	backendOF struct {
		*core
		ownerIndex
		freshLoader
	}
	backendRF struct {
		*core
		rekeyer
		freshLoader
	}
	backendORF struct {
		*core
		ownerIndex
		rekeyer
		freshLoader
	}
)

// withCapabilities returns w as the wrapper type with the capabilities of
// w's backend.
func withCapabilities(w *core) backend.Backend {
	idx, o := w.b.(backend.OwnerIndex)
	rk, r := w.b.(backend.Rekeyer)
	fl, f := w.b.(backend.FreshLoader)
	oi, rr, ff := ownerIndex{w, idx}, rekeyer{w, rk}, freshLoader{w, fl}
	switch {
	case o && r && f:
		return backendORF{w, oi, rr, ff}
	case o && r:
		return backendOR{w, oi, rr}
	case o && f:
		return backendOF{w, oi, ff}
	case r && f:
		return backendRF{w, rr, ff}
	case o:
		return backendO{w, oi}
	case r:
		return backendR{w, rr}
	case f:
		return backendF{w, ff}
	}
	return w
}
