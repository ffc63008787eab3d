package delivery

import "time"

// DomainStatus is one domain as admins see it: the policy they set, if any,
// and the latest check, if any.
type DomainStatus struct {
	Domain    string
	Policy    Policy // "" when none was set (tls-preferred applies)
	Reason    string // why the policy was set
	UpdatedAt time.Time
	Check     *Decision
}
