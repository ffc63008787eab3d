package accounts

import "context"

// A session store can read the user a browser session belongs to in the
// same round trip as the session itself (postgres.SessionStore). The
// request's context carries that user from the store to SessionUser, which
// checks it exactly as a user it read itself: the auth epoch and status
// are as fresh as the session row read with them.

type sessionUserKey struct{}

type prefetchedUser struct {
	user  User
	found bool
}

// WithSessionUser makes room in ctx for the user a session store reads
// along with the session.
func WithSessionUser(ctx context.Context) context.Context {
	return context.WithValue(ctx, sessionUserKey{}, &prefetchedUser{})
}

// WantsSessionUser reports whether ctx has that room.
func WantsSessionUser(ctx context.Context) bool {
	_, ok := ctx.Value(sessionUserKey{}).(*prefetchedUser)
	return ok
}

// PrefetchSessionUser is how a session store leaves the session's user.
func PrefetchSessionUser(ctx context.Context, u User) {
	if p, ok := ctx.Value(sessionUserKey{}).(*prefetchedUser); ok {
		p.user, p.found = u, true
	}
}

// takeSessionUser returns the prefetched user if it is user id, once: a
// later call in the same request reads the database again.
func takeSessionUser(ctx context.Context, id int64) (User, bool) {
	p, ok := ctx.Value(sessionUserKey{}).(*prefetchedUser)
	if !ok || !p.found || p.user.ID != id {
		return User{}, false
	}
	u := p.user
	*p = prefetchedUser{}
	return u, true
}
