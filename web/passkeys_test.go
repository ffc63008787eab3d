package web_test

import (
	"context"
	"encoding/json"
	"net/http"
	"net/url"
	"strings"
	"testing"

	"github.com/healthnet/secureportal/internal/accounts"
)

// addStoredPasskey gives u a passkey row (the pages that list, count and
// remove passkeys never run a ceremony on its record; the browser journey
// TestJourneyPasskey makes real ones).
func (s *site) addStoredPasskey(u accounts.User, name string) string {
	s.t.Helper()
	var id string
	if err := s.app.Pool.QueryRow(context.Background(), `INSERT INTO passkeys (user_id, credential_id, name, record)
		VALUES ($1, gen_random_uuid()::text::bytea, $2, '{}') RETURNING id::text`, u.ID, name).Scan(&id); err != nil {
		s.t.Fatal(err)
	}
	return id
}

func TestPasskeysNeedTheServerNamedByADomain(t *testing.T) {
	s := newSite(t, nil) // http://127.0.0.1:PORT
	s.provider("dr@clinic.example")
	b := s.signedIn("dr@clinic.example")
	must(t, "no passkey pages", b.get("/account/passkeys").Status == http.StatusNotFound)
	must(t, "no ceremonies", s.browser().post("/webauthn/login/begin", url.Values{}).Status == http.StatusNotFound)
	must(t, "the sign-in page offers none", !strings.Contains(s.browser().get("/login").Body, "passkey"))
	must(t, "the account page does not mention them", !strings.Contains(b.get("/account").Body, "Passkeys"))
	contains(t, "logs", s.logs.String(), "passkeys are off")
}

func TestPasskeyCeremoniesAskForAVerifiedDiscoverableCredentialAndRefuseWhatIsNoAnswer(t *testing.T) {
	s := newSite(t, map[string]string{"PORTAL_BASE_URL": siteOnLocalhost})
	u := s.provider("dr@clinic.example")
	b := s.signedIn("dr@clinic.example")
	contains(t, "sign-in page", s.browser().get("/login").Body, `autocomplete="username webauthn"`, "Sign in with a passkey", "/js/passkeys")

	p := b.post("/webauthn/register/begin", url.Values{})
	must(t, "options: "+p.Body, p.Status == http.StatusOK && p.Header.Get("Content-Type") == "application/json")
	var opts struct {
		PublicKey struct {
			Challenge string                    `json:"challenge"`
			RP        struct{ ID string }       `json:"rp"`
			User      struct{ ID, Name string } `json:"user"`
			Selection struct {
				ResidentKey      string `json:"residentKey"`
				UserVerification string `json:"userVerification"`
			} `json:"authenticatorSelection"`
			Attestation string `json:"attestation"`
		} `json:"publicKey"`
	}
	if err := json.Unmarshal([]byte(p.Body), &opts); err != nil {
		t.Fatal(err)
	}
	pk := opts.PublicKey
	must(t, "a challenge for this portal", len(pk.Challenge) >= 43 && pk.RP.ID == "localhost")
	must(t, "the handle is random, not the email: "+pk.User.ID+" "+pk.User.Name, len(pk.User.ID) == 43 && pk.User.Name == "dr@clinic.example")
	must(t, "a discoverable credential that verifies its user, no attestation",
		pk.Selection.ResidentKey == "required" && pk.Selection.UserVerification == "required" && pk.Attestation == "none")

	for _, body := range []string{"", "{}", `{"id":"x","rawId":"x","type":"public-key","response":{}}`, strings.Repeat("A", 70<<10)} {
		p = b.do(http.MethodPost, "/webauthn/register/finish?name=Laptop", nil, http.Header{"Content-Type": {"application/json"}}, strings.NewReader(body))
		must(t, "no ceremony's answer is refused with words: "+p.Body, p.Status >= 400 && p.Status < 500 && strings.Contains(p.Body, `"error"`))
		p = s.browser().do(http.MethodPost, "/webauthn/login/finish", nil, http.Header{"Content-Type": {"application/json"}}, strings.NewReader(body))
		must(t, "nor signs anyone in", p.Status >= 400 && p.Status < 500 && !strings.Contains(p.Body, "redirect"))
	}
	var stored int
	s.app.Pool.QueryRow(context.Background(), `SELECT count(*) FROM passkeys WHERE user_id = $1`, u.ID).Scan(&stored)
	must(t, "nothing stored", stored == 0)
}

func TestPasskeysAreListedRemovedAfterThePasswordAndResetByAnAdmin(t *testing.T) {
	s := newSite(t, map[string]string{"PORTAL_BASE_URL": siteOnLocalhost})
	rep, _ := s.staffIn("rep@plan.example", "Rep", "LA")
	_, ab := s.admin("admin@plan.example")
	b := s.signedIn("rep@plan.example")
	id := s.addStoredPasskey(rep, "Office computer")
	s.addStoredPasskey(rep, "Phone")
	contains(t, "account page", b.get("/account").Body, "You have 2 passkeys")
	p := b.get("/account/passkeys")
	contains(t, "passkeys page", p.Body, "Office computer", "Phone", "Not used yet", "/account/passkeys/"+id+"/remove")
	contains(t, "users list", ab.get("/admin/users?q=rep").Body, "Authenticator app, 2 passkeys")

	p = b.postCode("rep@plan.example", "/account/passkeys/"+id+"/remove", url.Values{"password": {"not my password"}})
	must(t, "a wrong password removes nothing", p.Status == http.StatusUnauthorized)
	p = b.post("/account/passkeys/"+id+"/remove", url.Values{"password": {goodPassword}, "code": {"000000"}})
	must(t, "a right password without the app's code removes nothing", p.Status == http.StatusUnauthorized)
	p = b.postCode("rep@plan.example", "/account/passkeys/"+id+"/remove", url.Values{"password": {goodPassword}})
	must(t, "removed: "+p.Location, p.Status == http.StatusSeeOther && p.Location == "/account/passkeys?removed=1")
	must(t, "gone", !strings.Contains(b.get("/account/passkeys").Body, "Office computer"))
	must(t, "audited", s.audited("mfa.passkey_removed", "{}") == 1)
	s.mailTo("rep@plan.example", "sign-in settings changed", "") // the app's set-up
	m, _ := s.mailTo("rep@plan.example", "sign-in settings changed", "")
	contains(t, "notice", m.Text, "passkey")

	ab.act(rep.ID, "reset_mfa", "Lost phone and laptop")
	var left int
	s.app.Pool.QueryRow(context.Background(), `SELECT count(*) FROM passkeys WHERE user_id = $1`, rep.ID).Scan(&left)
	must(t, "an admin's reset removes passkeys too", left == 0)
}

// Where a second factor is required and an account's only one is a
// passkey, the password alone does not sign in: the page says to use it.
func TestPasswordAloneIsNotEnoughWhenTheSecondFactorIsAPasskey(t *testing.T) {
	s := newSite(t, map[string]string{"PORTAL_BASE_URL": siteOnLocalhost})
	rep, _ := s.staffIn("rep@plan.example", "Rep", "LA")
	s.addStoredPasskey(rep, "Laptop")
	p := s.browser().login("rep@plan.example", goodPassword)
	must(t, "refused with the way in", p.Status == http.StatusUnauthorized && strings.Contains(p.Body, "second step is a passkey"))
}
