package tiles

import (
	"context"
	"errors"
)

// ErrNotKept is returned by an Engine under KeptOnly when what was asked
// needs an aggregate that it neither keeps nor is computing.
var ErrNotKept = errors.New("tiles: an aggregate this needs is not computed yet")

type keptOnlyKey struct{}

// KeptOnly returns a context under which an Engine answers only from the
// aggregates it keeps, or is computing for another caller (it waits for
// those), and returns ErrNotKept instead of asking its source for more. A
// tile cut from kept aggregates is light work (every tile of a view after
// the few aggregates of its filter), which a server need not queue behind
// the heavy work of computing them.
func KeptOnly(ctx context.Context) context.Context {
	return context.WithValue(ctx, keptOnlyKey{}, true)
}

// keptOnly reports whether ctx is of KeptOnly.
func keptOnly(ctx context.Context) bool {
	v, _ := ctx.Value(keptOnlyKey{}).(bool)
	return v
}
