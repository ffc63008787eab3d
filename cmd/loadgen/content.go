package main

import (
	"encoding/binary"
	"fmt"
	"math/rand/v2"
	"strings"
)

// Seeded text reads like the plan's correspondence with providers, at the
// lengths it has: a subject line, a few sentences to a couple of
// paragraphs. No real person or member is named.

var (
	topics = []string{"Prior authorization", "Claim status", "Referral", "Eligibility check", "Lab results",
		"Care plan update", "Appeal", "Credentialing", "Discharge summary", "Medication review"}
	sentences = []string{
		"Please find the requested documentation for the member below.",
		"We reviewed the submission and need the clinical notes from the last visit.",
		"The authorization was approved for the dates of service listed.",
		"Could you confirm the member's current primary care provider?",
		"The claim was reprocessed and payment will follow in the next cycle.",
		"Attached are the results; please call Provider Services with any questions.",
		"The referral to the specialist has been entered and is pending review.",
		"We could not match the member ID; please check it against the card.",
		"Thank you, received. We will follow up by the end of the week.",
		"The care coordinator will reach out to schedule the follow-up.",
	}
	fileNames = []string{"lab-results", "referral", "auth-request", "discharge-summary", "claim-detail", "care-plan"}
)

func pick(rng *rand.Rand, list []string) string { return list[rng.IntN(len(list))] }

func subject(rng *rand.Rand) string {
	return fmt.Sprintf("%s for member %08d", pick(rng, topics), rng.IntN(100000000))
}

func body(rng *rand.Rand) string {
	var sb strings.Builder
	fmt.Fprintf(&sb, "Member ID %08d.\n\n", rng.IntN(100000000))
	for i := range 2 + rng.IntN(12) {
		if i > 0 && i%4 == 0 {
			sb.WriteString("\n\n")
		} else if i > 0 {
			sb.WriteByte(' ')
		}
		sb.WriteString(pick(rng, sentences))
	}
	return sb.String()
}

// fileContent is n bytes that start like a PDF; the rest is noise, which is
// what ciphertext costs anyway.
func fileContent(rng *rand.Rand, n int) []byte {
	b := make([]byte, n+8)
	for i := 0; i < n; i += 8 {
		binary.LittleEndian.PutUint64(b[i:], rng.Uint64())
	}
	copy(b, "%PDF-1.7\n")
	return b[:n]
}
