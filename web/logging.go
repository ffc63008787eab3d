package web

import (
	"log/slog"
	"net/http"
	"strings"
	"time"

	"github.com/go-chi/chi/v5"
)

func durationMS(v time.Duration) slog.Attr {
	return slog.Float64("duration_ms", float64(v.Microseconds())/1000)
}

func levelFor(status int) slog.Level {
	if status >= 500 {
		return slog.LevelError
	}
	return slog.LevelInfo
}

// tokenParams are route parameters whose values are secrets (emailed links).
var tokenParams = map[string]bool{"token": true}

// redactPath returns the request path safe to log: values of token route
// parameters are replaced, and so is any long opaque segment on a path that
// matched no route (a mistyped or truncated emailed link is still a secret).
func redactPath(r *http.Request) string {
	path := r.URL.Path
	if rctx := chi.RouteContext(r.Context()); rctx != nil {
		for i, key := range rctx.URLParams.Keys {
			if tokenParams[key] && i < len(rctx.URLParams.Values) && rctx.URLParams.Values[i] != "" {
				path = strings.ReplaceAll(path, rctx.URLParams.Values[i], "REDACTED")
			}
		}
	}
	segs := strings.Split(path, "/")
	for i, seg := range segs {
		if looksLikeToken(seg) {
			segs[i] = "REDACTED"
		}
	}
	return strings.Join(segs, "/")
}

// looksLikeToken matches base64url/hex strings of 20 or more characters: our
// tokens are 43 characters, our ids and static hashes are shorter.
func looksLikeToken(seg string) bool {
	if len(seg) < 20 {
		return false
	}
	for _, c := range seg {
		ok := c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '-' || c == '_' || c == '%' || c == '='
		if !ok {
			return false
		}
	}
	return true
}
