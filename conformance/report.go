package conformance

import (
	"errors"
	"fmt"
	"path/filepath"
	"runtime"
	"strconv"
	"strings"
)

// A checkError is an error of a check together with the line of the check
// where it arose, so that a failure points at the failing check and not at
// the shared helper that noticed it.
type checkError struct {
	at  string // file:line in the check, "" if unknown
	err error
}

func (e *checkError) Error() string { return e.err.Error() }
func (e *checkError) Unwrap() error { return e.err }

// failf is fmt.Errorf for the checks and their helpers: it records the
// line of the innermost check function on the stack.
func failf(format string, args ...any) error {
	return &checkError{at: checkLine(), err: fmt.Errorf(format, args...)}
}

// checkLine returns file:line of the innermost frame of a check function
// (checkXxx, or a closure in one) on the caller's stack.
func checkLine() string {
	var pcs [32]uintptr
	n := runtime.Callers(3, pcs[:])
	frames := runtime.CallersFrames(pcs[:n])
	for {
		f, more := frames.Next()
		name := f.Function[strings.LastIndexByte(f.Function, '/')+1:]
		if strings.HasPrefix(name, "conformance.check") {
			return filepath.Base(f.File) + ":" + strconv.Itoa(f.Line)
		}
		if !more {
			return ""
		}
	}
}

// located is err's message, prefixed with the line of the check that
// reported it when known.
func located(err error) string {
	var ce *checkError
	if errors.As(err, &ce) && ce.at != "" {
		return ce.at + ": " + err.Error()
	}
	return err.Error()
}

// wrapperHint is added where a capability method answers "not found" for
// a record that Load has just returned.
const wrapperHint = " (if this backend wraps another by embedding it, the " +
	"embedded backend's capability methods, such as ListByOwner or Rekey, " +
	"are promoted and bypass the wrapper's Load, Create and Update: wrap " +
	"them too, or embed the backend.Backend interface, which promotes none)"
