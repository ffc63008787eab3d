package app

import (
	"context"
	"errors"
	"fmt"

	"github.com/healthnet/secureportal/internal/accounts"
	"github.com/healthnet/secureportal/internal/audit"
	"github.com/healthnet/secureportal/internal/envelope"
	"github.com/healthnet/secureportal/internal/hsm"
	"github.com/healthnet/secureportal/internal/postgres"
	"github.com/healthnet/secureportal/web"
)

// keyAdmin gives the admin console's keys page the keyring file and the
// data-key counts: the same operations as `portal keys status` and `rotate`.
type keyAdmin struct {
	keyring  adminKEKs
	keys     *postgres.DataKeys
	accounts *accounts.Service // records the rotation, as every admin action is
}

var errNoKeyring = errors.New("portal: keys are not held in a local keyring file")

// adminKEKs is what the admin keys page shows and rotates: the keyring
// file, or the HSM token.
type adminKEKs interface {
	Versions() []envelope.KeyInfo
	CurrentVersion() uint32
	Rotate() (uint32, error)
}

// tokenKEKs rotates on the token as `portal keys rotate` does.
type tokenKEKs struct{ *hsm.Provider }

func (t tokenKEKs) Rotate() (uint32, error) { return t.Provider.Rotate(0) }

// adminKEKsOf is kek as the admin page handles it, or nil for a provider
// it cannot (tests' own).
func adminKEKsOf(kek envelope.KEKProvider) adminKEKs {
	switch k := kek.(type) {
	case *envelope.Keyring:
		return k
	case *hsm.Provider:
		return tokenKEKs{k}
	}
	return nil
}

func (k keyAdmin) Versions(ctx context.Context) ([]web.KeyVersion, error) {
	if k.keyring == nil {
		return nil, errNoKeyring
	}
	counts, err := k.keys.Status(ctx)
	if err != nil {
		return nil, err
	}
	deks := map[uint32]int64{}
	for _, c := range counts {
		deks[c.Version] = c.Count
	}
	var out []web.KeyVersion
	for _, v := range k.keyring.Versions() {
		out = append(out, web.KeyVersion{Version: v.Version, State: string(v.State), Created: v.CreatedAt, DEKs: deks[v.Version],
			Current: v.Version == k.keyring.CurrentVersion()})
	}
	return out, nil
}

// Rotate adds a KEK version, as `portal keys rotate` does, and audits it.
// This process wraps new keys with it at once; other instances that read
// the same keyring file pick it up within a minute (App.reloadKeyring).
func (k keyAdmin) Rotate(ctx context.Context, actorID int64, ip, reason string) (uint32, error) {
	if k.keyring == nil {
		return 0, errNoKeyring
	}
	old := k.keyring.CurrentVersion()
	v, err := k.keyring.Rotate()
	if err != nil {
		return 0, fmt.Errorf("portal: rotate: %w", err)
	}
	err = k.accounts.RecordAdminEvent(ctx, audit.Event{ActorID: actorID, Action: audit.KeysRotated, TargetType: "keyring", TargetID: fmt.Sprint(v), IP: ip,
		Detail: map[string]any{"reason": reason, "from_version": old, "to_version": v}})
	return v, err
}
