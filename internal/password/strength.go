package password

import (
	"errors"
	"fmt"
	"math"
)

// Hint is a strength estimate for the signup / change-password form.
type Hint struct {
	// Score is 0..4 on zxcvbn's scale, from the same (slightly stricter than
	// stock zxcvbn) guess estimate Check uses.
	Score int
	// Label is a short human label for Score: "very weak", "weak", "fair",
	// "strong" or "very strong".
	Label string
	// CrackTime is zxcvbn-style crack-time display for an offline attack at
	// 10^4 guesses/second ("offline_slow_hashing_1e4_per_second"), e.g.
	// "3 hours" or "centuries". Empty when the password was not evaluated
	// (empty, invalid UTF-8 or too long).
	CrackTime string
	// Reason is the user-facing message Check would return, or "" when Check
	// would accept the password. The meter is advisory; Check is what the
	// server enforces, and Reason lets the form say why a "strong"-looking
	// but too-short password will still be refused.
	Reason string
}

var scoreLabels = [...]string{"very weak", "weak", "fair", "strong", "very strong"}

// Strength estimates password strength with zxcvbn, taking the same context
// strings as Check (so "Jane Doe" scores "JaneDoe2024!!" as weak for Jane).
// Only the first 64 characters are estimated (see Check); longer passwords
// are scored on that prefix.
func Strength(password string, context ...string) Hint {
	ev, err := evaluate(password, context)
	h := Hint{Score: ev.score, Label: scoreLabels[ev.score]}
	if ev.guesses > 0 {
		h.CrackTime = displayTime(ev.guesses / 1e4)
	}
	var pe *PolicyError
	if errors.As(err, &pe) {
		h.Reason = pe.Reason
	}
	return h
}

// displayTime mirrors zxcvbn's display_time (which the Go port keeps
// unexported) so the wording matches the upstream library and its docs.
func displayTime(seconds float64) string {
	const (
		minute  = 60.0
		hour    = minute * 60
		day     = hour * 24
		month   = day * 31
		year    = month * 12
		century = year * 100
	)
	switch {
	case seconds < 1:
		return "less than a second"
	case seconds < minute:
		return countUnit(seconds, "second")
	case seconds < hour:
		return countUnit(seconds/minute, "minute")
	case seconds < day:
		return countUnit(seconds/hour, "hour")
	case seconds < month:
		return countUnit(seconds/day, "day")
	case seconds < year:
		return countUnit(seconds/month, "month")
	case seconds < century:
		return countUnit(seconds/year, "year")
	default:
		return "centuries"
	}
}

func countUnit(n float64, unit string) string {
	c := int(math.Round(n))
	if c == 1 {
		return "1 " + unit
	}
	return fmt.Sprintf("%d %ss", c, unit)
}
