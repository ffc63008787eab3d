package blindindex

import (
	"bytes"
	"slices"
	"testing"
)

func testKey(t testing.TB) *Key {
	k, err := NewKey(bytes.Repeat([]byte{7}, 32))
	if err != nil {
		t.Fatal(err)
	}
	return k
}

func TestWordsSplitsLettersFromDigits(t *testing.T) {
	for text, want := range map[string][]string{
		"eob-march.pdf":              {"eob", "march", "pdf"},
		"member a12345678, dr. ruiz": {"member", "a", "12345678", "dr", "ruiz"},
		"  ":                         nil,
		"muñoz":                      {"muñoz"},
		"x":                          {"x"},
	} {
		if got := Words(text); !slices.Equal(got, want) {
			t.Errorf("Words(%q) = %q, want %q", text, got, want)
		}
	}
}

func TestMatchesAtTheStartOfAWord(t *testing.T) {
	for _, c := range []struct {
		text, term string
		want       bool
	}{
		{"claim 4471 review", "4471", true},
		{"claim 4471 review", "471", false},    // inside a word
		{"member a12345678", "12345678", true}, // digits after a letter begin a word
		{"member a12345678", "345", false},
		{"eob-march.pdf", "eob-mar", true},
		{"xeob-march.pdf", "eob-mar", false},
		{"eob-march.pdf", "-mar", true}, // a term that starts with a separator matches anywhere
		{"dr. inés muñoz", "muñ", true},
		{"johnson", "john", true},
		{"stjohn", "john", false},
		{"stjohn john", "john", true}, // a later occurrence counts
		{"anything", "", true},
		{"ab", "abc", false},
	} {
		if got := Matches(c.text, c.term); got != c.want {
			t.Errorf("Matches(%q, %q) = %v, want %v", c.text, c.term, got, c.want)
		}
	}
}

func TestTokensAreKeyedPrefixes(t *testing.T) {
	k := testKey(t)
	rec := k.Tokens("prior authorization for member 00123456")
	for _, term := range []string{"prior", "pri", "authorization", "authoriz", "00123456", "001", "member"} {
		if k.TermTokens(term) == nil {
			t.Errorf("term %q gave no token", term)
		}
		for _, tok := range k.TermTokens(term) {
			if _, ok := slices.BinarySearch(rec, tok); !ok {
				t.Errorf("term %q: token %d missing from the record's tokens", term, tok)
			}
		}
	}
	if got := k.TermTokens("of to a"); got != nil {
		t.Errorf("short words gave tokens %v, want none", got)
	}
	if a, b := k.TermTokens("authorizations"), k.TermTokens("authorization"); slices.Equal(a, b) {
		t.Errorf("two words of fewer than %d characters gave the same token", MaxPrefix)
	}
	long := "pneumonoultramicroscopicsilicovolcanoconiosis"
	if a, b := k.TermTokens(long), k.TermTokens(long[:MaxPrefix+2]); !slices.Equal(a, b) {
		t.Errorf("words past %d characters are cut: %v and %v should be equal", MaxPrefix, a, b)
	}
	other, err := NewKey(bytes.Repeat([]byte{8}, 32))
	if err != nil {
		t.Fatal(err)
	}
	if slices.Equal(k.TermTokens("prior"), other.TermTokens("prior")) {
		t.Error("two keys gave the same token: the tokens are not keyed")
	}
	if _, err := NewKey(make([]byte, 16)); err == nil {
		t.Error("a 16-byte secret was accepted")
	}
}

// The index may only narrow a search, never lose a match: whenever Matches
// says a term is in a text, the text's tokens hold all the term's tokens.
func FuzzTokensHoldEveryMatch(f *testing.F) {
	f.Add("eob-march.pdf referral", "eob-mar")
	f.Add("member a12345678", "12345")
	f.Add("Dr. Inés Muñoz", "muñoz")
	f.Add("authorizations", "authorization")
	k := testKey(f)
	f.Fuzz(func(t *testing.T, text, term string) {
		if !Matches(text, term) {
			return
		}
		rec := k.Tokens(text)
		for _, tok := range k.TermTokens(term) {
			if _, ok := slices.BinarySearch(rec, tok); !ok {
				t.Fatalf("Matches(%q, %q) but the term's token %d is not among the text's", text, term, tok)
			}
		}
	})
}
