package pages

import "github.com/healthnet/secureportal/templates/layout"

// CheckStep is one check of a domain as the TLS pages show it.
type CheckStep struct {
	Name   string
	OK     bool
	Detail string
}

// DomainCheck is what the portal would do for one mail domain, and why.
type DomainCheck struct {
	Domain string
	// Direct is true when mail goes straight to the domain's inbox over
	// verified TLS.
	Direct  bool
	Verdict string // one sentence in plain words
	Reason  string
	Advice  string // what the provider's IT would change; "" when nothing
	Steps   []CheckStep
	Checked string // when, in words
}

// TLSCheckView feeds the public TLS readiness page.
type TLSCheckView struct {
	Chrome  layout.Chrome
	Domain  Field
	Result  *DomainCheck // nil before a domain is asked for
	OrgName string
	// TLSFirst says whether the portal delivers by TLS at all
	// (PORTAL_DELIVERY_MODE).
	TLSFirst bool
}

// AdminDomainsView feeds the admins' delivery policy page.
type AdminDomainsView struct {
	Chrome   layout.Chrome
	Notice   string
	TLSFirst bool
	Rows     []DomainRow
	// The form to set a policy.
	Domain   Field
	Policy   Field
	Policies []Option
	Reason   Field
	Problems []Problem
}

// DomainRow is one domain on the admins' page.
type DomainRow struct {
	Domain    string
	Policy    string // "tls-preferred (default)" when none was set
	Reason    string
	UpdatedAt string
	Check     *DomainCheck
}
