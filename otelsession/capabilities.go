package otelsession

import (
	"context"

	"github.com/sessionkit/sessionkit/backend"
)

// The wrapper must have exactly the capabilities of the backend it wraps:
// a wrapper that had fewer would switch Manager paths off (no fresh reads,
// no atomic renew), one that had more would claim what the backend cannot
// do. Go finds capabilities by type assertion, so there is one wrapper type
// per combination of the four, each embedding *core for the core
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

type notifier struct {
	n backend.Notifier
}

// Subscribe is the wrapped backend's Subscribe. It is not traced: a
// subscription lasts as long as its context, and the events it delivers
// are not calls of the Manager.
func (n notifier) Subscribe(ctx context.Context, fn func(backend.Event)) error {
	return n.n.Subscribe(ctx, fn)
}

// The fifteen combinations, named by the capabilities they have: O
// (OwnerIndex), R (Rekeyer), F (FreshLoader), N (Notifier).
type (
	backendORFN struct {
		*core
		ownerIndex
		rekeyer
		freshLoader
		notifier
	}
	backendORF struct {
		*core
		ownerIndex
		rekeyer
		freshLoader
	}
	backendORN struct {
		*core
		ownerIndex
		rekeyer
		notifier
	}
	backendOFN struct {
		*core
		ownerIndex
		freshLoader
		notifier
	}
	backendRFN struct {
		*core
		rekeyer
		freshLoader
		notifier
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
	backendON struct {
		*core
		ownerIndex
		notifier
	}
	backendRF struct {
		*core
		rekeyer
		freshLoader
	}
	backendRN struct {
		*core
		rekeyer
		notifier
	}
	backendFN struct {
		*core
		freshLoader
		notifier
	}
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
	backendN struct {
		*core
		notifier
	}
)

// withCapabilities returns w as the wrapper type with the capabilities of
// w's backend.
func withCapabilities(w *core) backend.Backend {
	idx, o := w.b.(backend.OwnerIndex)
	rk, r := w.b.(backend.Rekeyer)
	fl, f := w.b.(backend.FreshLoader)
	nt, n := w.b.(backend.Notifier)
	oi, rr, ff, nn := ownerIndex{w, idx}, rekeyer{w, rk}, freshLoader{w, fl}, notifier{nt}
	switch {
	case o && r && f && n:
		return backendORFN{w, oi, rr, ff, nn}
	case o && r && f && !n:
		return backendORF{w, oi, rr, ff}
	case o && r && n && !f:
		return backendORN{w, oi, rr, nn}
	case o && f && n && !r:
		return backendOFN{w, oi, ff, nn}
	case r && f && n && !o:
		return backendRFN{w, rr, ff, nn}
	case o && r && !f && !n:
		return backendOR{w, oi, rr}
	case o && f && !r && !n:
		return backendOF{w, oi, ff}
	case o && n && !r && !f:
		return backendON{w, oi, nn}
	case r && f && !o && !n:
		return backendRF{w, rr, ff}
	case r && n && !o && !f:
		return backendRN{w, rr, nn}
	case f && n && !o && !r:
		return backendFN{w, ff, nn}
	case o && !r && !f && !n:
		return backendO{w, oi}
	case r && !o && !f && !n:
		return backendR{w, rr}
	case f && !o && !r && !n:
		return backendF{w, ff}
	case n && !o && !r && !f:
		return backendN{w, nn}
	}
	return w
}
