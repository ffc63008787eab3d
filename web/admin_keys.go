package web

import (
	"cmp"
	"fmt"
	"net/http"
	"net/url"
	"strconv"
	"strings"

	"github.com/healthnet/secureportal/internal/accounts"
	"github.com/healthnet/secureportal/templates/pages"
)

// The key-encryption key: its versions and rotation.

func (s *Server) adminKeys(w http.ResponseWriter, r *http.Request) {
	versions, err := s.keys.Versions(r.Context())
	if err != nil {
		s.serverError(w, r, err)
		return
	}
	v := pages.AdminKeysView{Chrome: s.chrome(r), Notice: r.URL.Query().Get("notice")}
	var behind int64
	for _, k := range versions {
		v.Versions = append(v.Versions, pages.KeyRow{Version: strconv.FormatUint(uint64(k.Version), 10), State: k.State,
			Created: s.day(r.Context(), k.Created), DEKs: strconv.FormatInt(k.DEKs, 10), Current: k.Current})
		if !k.Current {
			behind += k.DEKs
		}
	}
	if behind > 0 {
		v.Pending = fmt.Sprintf("%d data keys are still wrapped by older versions: run `portal keys rewrap`.", behind)
	} else {
		v.Pending = "Every data key is wrapped by the current version."
	}
	s.render(w, r, http.StatusOK, pages.AdminKeys(v))
}

func (s *Server) keysConfirmView(r *http.Request, reason, reasonErr string) pages.AdminConfirmView {
	v := s.confirmView(r, accounts.User{}, "Rotate the key-encryption key?",
		"A new KEK version wraps every new data key from now on; older versions stay for reading until `portal keys rewrap` moves their data keys. Back up the keyring file afterwards; other instances reading the same file pick the new version up within a minute.",
		"/admin/keys/rotate", nil, reason, reasonErr)
	v.CancelURL = "/admin/keys"
	return v
}

func (s *Server) adminKeysRotateConfirm(w http.ResponseWriter, r *http.Request) {
	s.render(w, r, http.StatusOK, pages.AdminConfirm(s.keysConfirmView(r, "", "")))
}

func (s *Server) adminKeysRotate(w http.ResponseWriter, r *http.Request) {
	f, ok := s.postForm(w, r, "reason")
	if !ok {
		return
	}
	reason := strings.TrimSpace(f.Get("reason"))
	if reason == "" {
		s.render(w, r, http.StatusUnprocessableEntity, pages.AdminConfirm(s.keysConfirmView(r, "", cmp.Or(f.notText["reason"], "Say why (for the audit log)."))))
		return
	}
	me, _ := currentUser(r.Context())
	v, err := s.keys.Rotate(r.Context(), me.ID, ClientIP(r.Context()).String(), reason)
	if err != nil {
		s.serverError(w, r, err)
		return
	}
	s.log.WarnContext(r.Context(), "key-encryption key rotated", "request_id", RequestID(r.Context()), "admin_id", me.ID, "version", v)
	http.Redirect(w, r, "/admin/keys?"+url.Values{"notice": {fmt.Sprintf("Version %d is now current. Back up the keyring file.", v)}}.Encode(), http.StatusSeeOther)
}
