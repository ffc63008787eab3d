// Package static embeds the portal's own CSS, scripts and images and serves
// them under content-hashed URLs, so browsers may cache them for a year and
// still see a change the moment it ships.
package static

import (
	"crypto/sha256"
	"embed"
	"encoding/hex"
	"io/fs"
	"net/http"
	"path"
	"strings"
)

//go:embed css js img
var files embed.FS

// Assets knows each embedded file's content hash.
type Assets struct {
	hashes map[string]string // "css/app.css" -> "3f2a9c1b0d4e"
	server http.Handler
}

// New hashes every embedded file once.
func New() *Assets {
	a := &Assets{hashes: map[string]string{}, server: http.FileServerFS(files)}
	fs.WalkDir(files, ".", func(p string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		b, err := files.ReadFile(p)
		if err != nil {
			return err
		}
		sum := sha256.Sum256(b)
		a.hashes[p] = hex.EncodeToString(sum[:6])
		return nil
	})
	return a
}

// URL returns the cache-busted URL of an embedded file, e.g.
// "/static/3f2a9c1b0d4e/css/app.css". It panics on a name that is not
// embedded: that is a programming error a test catches at once.
func (a *Assets) URL(name string) string {
	h, ok := a.hashes[name]
	if !ok {
		panic("static: no embedded file " + name)
	}
	return "/static/" + h + "/" + name
}

// ServeHTTP serves /static/{hash}/{name}. A current hash gets a year-long
// immutable cache; a stale hash (a page cached across a deploy) still gets the
// file, but one that must be revalidated.
func (a *Assets) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	rest := strings.TrimPrefix(r.URL.Path, "/static/")
	hash, name, ok := strings.Cut(rest, "/")
	name = path.Clean(name)
	current, known := a.hashes[name]
	if !ok || !known {
		http.NotFound(w, r)
		return
	}
	if hash == current {
		w.Header().Set("Cache-Control", "public, max-age=31536000, immutable")
	} else {
		w.Header().Set("Cache-Control", "no-cache")
	}
	r2 := r.Clone(r.Context())
	r2.URL.Path = "/" + name
	a.server.ServeHTTP(w, r2)
}
