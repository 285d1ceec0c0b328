package main

import (
	"context"
	"errors"

	"github.com/sessionkit/sessionkit/backend"
	redisbackend "github.com/sessionkit/sessionkit/backend_redis"
	"github.com/sessionkit/sessionkit/session"
)

// opKind is one kind of call the load makes.
type opKind int

const (
	opCreate opKind = iota
	opGet
	opGetFresh
	opUpdate
	opRenew
	opDestroy
	opDestroyByOwner
	opProbe // the recovery probes' Creates and Destroys
	numOps
)

var opNames = [numOps]string{
	"Create", "Get", "GetFresh", "Update", "Renew", "Destroy", "DestroyByOwner", "probe (recovery)",
}

// class is the documented error class an error belongs to.
type class int

const (
	classOK class = iota
	classNotDurable
	classNotFound
	classConflict
	classUnavailable
	classContext
	classCorrupt
	classPermission
	classOther // none of the documented classes: a violation
	numClasses
)

var classNames = [numClasses]string{
	"ok", "not durable", "not found", "conflict", "unavailable", "context", "corrupt", "permission", "other",
}

func className(c class) string { return classNames[c] }

// classify sorts err into the classes the library documents for callers:
// session.ErrNotFound, ErrConflict, ErrCorrupt, ErrNotDurable,
// backend.ErrUnavailable, redisbackend.ErrPermission and the context
// errors. An error that matches several is counted under the first of
// that list that it matches, except that ErrNotDurable (a write that was
// applied) goes first.
func classify(err error) class {
	switch {
	case err == nil:
		return classOK
	case errors.Is(err, session.ErrNotDurable):
		return classNotDurable
	case errors.Is(err, session.ErrNotFound):
		return classNotFound
	case errors.Is(err, session.ErrConflict):
		return classConflict
	case errors.Is(err, session.ErrCorrupt):
		return classCorrupt
	case errors.Is(err, backend.ErrUnavailable):
		return classUnavailable
	case errors.Is(err, redisbackend.ErrPermission):
		return classPermission
	case errors.Is(err, context.DeadlineExceeded), errors.Is(err, context.Canceled):
		return classContext
	}
	return classOther
}
