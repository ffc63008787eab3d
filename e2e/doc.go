// Package e2e holds the real-browser end-to-end tests: Debian's chromium,
// driven by chromedp, against the whole portal (real PostgreSQL, real SMTP
// sink, job workers running). The package has no code of its own; everything
// is in the _test.go files:
//
//   - harness_test.go: one shared headless chromium for the package (TestMain),
//     a fresh browser context and tab per test, listeners that fail a test
//     on console errors, failed requests and CSP violations, and
//     startJourney (a portal and a tab per journey, timed);
//   - browser_test.go: acting as a person in a tab: navigating, clicking,
//     typing, the keyboard (Tab, with every focus visible), choosing files
//     and downloading them;
//   - checks_test.go: checks of a page beyond checkPage: the error summary
//     of a form, no sideways scrolling at phone size, the printed thread;
//   - site_test.go: one portal instance per test (extra PORTAL_* settings
//     per journey), plus reading its mail;
//   - axe_test.go: checkPage (axe-core accessibility checks, CSP) and
//     screenshots of every page;
//   - accounts_test.go: the account journeys (forgot password, expired
//     registration link, idle timeout, errors announced and linked);
//   - messaging_test.go: what the messaging journeys share (teams, staff,
//     test files, watching an upload, signing in, a sent thread), and one
//     file per journey: messaging_newprovider_test.go (a representative
//     writes to a new provider with a large attachment, watching it upload;
//     the provider registers from the email, downloads it and replies with a
//     file), messaging_keyboard_test.go (the same journey 2 with the keyboard
//     alone, the file chooser opened with Space), messaging_team_test.go (a
//     provider writes to a Provider Services team) and
//     messaging_recall_test.go (read status and recall), with
//     no-sideways-scrolling checks at phone size;
//   - delivery_test.go: TLS-first delivery both ways in a loopback world
//     (internal/delivery/deliverytest): a message delivered whole over
//     verified TLS and one waiting in the portal, each thread's delivery
//     line, the provider's reply by email (with a file) through the
//     portal's inbound SMTP listener, the public TLS check and the admins'
//     Mail domains page;
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
