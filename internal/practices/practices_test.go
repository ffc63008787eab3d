package practices_test

import (
	"testing"

	"github.com/healthnet/secureportal/internal/practices"
)

func TestNPICheckDigit(t *testing.T) {
	for npi, ok := range map[string]bool{"1234567893": true, "1245319599": true, "1234567890": false, "123456789": false, "12345678933": false, "12345678a3": false} {
		if got := practices.NPIProblem(npi) == ""; got != ok {
			t.Errorf("NPIProblem(%q) accepts: %v, want %v", npi, got, ok)
		}
	}
}
