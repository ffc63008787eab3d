// Package e2e holds the real-browser end-to-end tests: Debian's chromium,
// driven by chromedp, against the whole portal (real PostgreSQL, real SMTP
// sink, job workers running). The package has no code of its own; everything
// is in the _test.go files:
//
//   - harness_test.go: one shared headless chromium for the package (TestMain),
//     a fresh browser context and tab per test, and listeners that fail a test
//     on console errors, failed requests and CSP violations;
//   - site_test.go: one portal instance per test, plus reading its mail;
//   - axe_test.go: axe-core accessibility checks and screenshots of every page;
//   - accounts_test.go: the account journeys (forgot password, expired
//     registration link, idle timeout, errors announced and linked);
//   - messaging_test.go: the messaging journeys (a representative writes to
//     a new provider with a large attachment, watching it upload; the
//     provider registers from the email, downloads it and replies with a
//     file; the same journey 2 again with the keyboard alone, the file
//     chooser opened with Space; a provider writes to a Provider Services
//     team; read status and recall), with a no-sideways-scrolling check at
//     phone size;
//   - admin_test.go: the admin console: journey 7 (a provider locked out by
//     failed sign-ins is unlocked by an admin, then forced to register again:
//     their open session ends and they register from the email), a walk of
//     every admin page (keys included) with phone-size checks of the wide
//     ones, and re-authentication after PORTAL_ADMIN_REAUTH without admin
//     activity.
//
// A new journey copies one of accounts_test.go: start with startJourney, act
// as a person would (click, type, open links from the mail), and call
// checkPage on every page it lands on.
package e2e
