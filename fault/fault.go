// Package fault is the vocabulary of failures a caller must hear about: bad input, something not
// found, a conflict with what exists, a refusal with its reason. The domain services return them;
// each door reports them in its own shape (a GraphQL error code, a REST status and Harbor's error
// body). An error that is none of these is internal: no door repeats its text to the caller.
package fault

import (
	"errors"
	"fmt"
)

// Kind is the sort of failure. Its value is the code GraphQL reports.
type Kind string

// The kinds.
const (
	KindBadInput  Kind = "BAD_USER_INPUT"
	KindNotFound  Kind = "NOT_FOUND"
	KindConflict  Kind = "CONFLICT"
	KindForbidden Kind = "FORBIDDEN"
)

// Error is a failure whose message is written for the caller: it says what was wrong and, where it
// can, what to do instead.
type Error struct {
	Kind    Kind
	Message string
}

func (e *Error) Error() string { return e.Message }

// BadInput is input the caller must change.
func BadInput(format string, args ...any) error {
	return &Error{Kind: KindBadInput, Message: fmt.Sprintf(format, args...)}
}

// NotFound is something that does not exist, or that the caller may not know exists (what names
// it: "project 7", `user "alice"`).
func NotFound(what string) error {
	return &Error{Kind: KindNotFound, Message: what + " not found"}
}

// Conflict is a request that clashes with what exists (a name taken, a project not empty).
func Conflict(format string, args ...any) error {
	return &Error{Kind: KindConflict, Message: fmt.Sprintf(format, args...)}
}

// Forbidden is a refusal whose reason the caller should read (a plain refusal is auth.ErrForbidden).
func Forbidden(format string, args ...any) error {
	return &Error{Kind: KindForbidden, Message: fmt.Sprintf(format, args...)}
}

// As returns the *Error in err's chain, if there is one.
func As(err error) (*Error, bool) {
	var e *Error
	ok := errors.As(err, &e)
	return e, ok
}

// IsNotFound reports whether err is a NotFound.
func IsNotFound(err error) bool {
	e, ok := As(err)
	return ok && e.Kind == KindNotFound
}
