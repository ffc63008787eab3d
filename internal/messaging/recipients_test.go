package messaging

import (
	"context"
	"errors"
	"testing"
)

func TestRecipientKeyRoundTrips(t *testing.T) {
	for _, kind := range []string{RecipientStaff, RecipientTeam} {
		key := RecipientKey(kind, 42)
		if got, id, ok := ParseRecipientKey(key); !ok || got != kind || id != 42 {
			t.Errorf("ParseRecipientKey(%q) = %q, %d, %v", key, got, id, ok)
		}
	}
}

func TestParseRecipientKeyRefusesForgedValues(t *testing.T) {
	for _, key := range []string{"", "staff", "staff:", "staff:abc", "admin:1", "team:1:2", ":3", "Team:3"} {
		if kind, id, ok := ParseRecipientKey(key); ok {
			t.Errorf("ParseRecipientKey(%q) = %q, %d, true; want refused", key, kind, id)
		}
	}
}

// A malformed thread id is a thread that does not exist (404), never a
// database error (500): the store is not even asked.
func TestReplyToAMalformedThreadIdIsNotFound(t *testing.T) {
	s := NewService(nil)
	if err := s.Reply(context.Background(), Viewer{UserID: 1}, "not-a-uuid", "hello", nil); !errors.Is(err, ErrNotFound) {
		t.Errorf("reply to a malformed id: %v, want ErrNotFound", err)
	}
}
