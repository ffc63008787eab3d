package config

import "time"

// Bounds of PORTAL_JOB_RESCUE_AFTER: short enough to test a crash in
// seconds, long enough to leave each job kind's time limit room for work.
const (
	minJobRescueAfter = 4 * time.Second
	maxJobRescueAfter = 24 * time.Hour
)

// jobRescueAfter reads how long a background job may stay "running" before
// River takes it for one left behind by a crashed process and runs it
// again (every job kind's time limit is derived from it and shorter).
func (l *loader) jobRescueAfter() time.Duration {
	d := l.duration("PORTAL_JOB_RESCUE_AFTER", 2*time.Minute)
	if d < minJobRescueAfter || d > maxJobRescueAfter {
		l.fail("PORTAL_JOB_RESCUE_AFTER", "must be between %s and %s (for example 2m), got %s", minJobRescueAfter, maxJobRescueAfter, d)
		return 2 * time.Minute
	}
	return d
}
