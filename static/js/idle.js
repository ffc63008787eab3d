// The warning before the idle sign-out (issue 15). The server signs a
// browser out after PORTAL_SESSION_IDLE without a request; this script
// shows, shortly before, a box with "Stay signed in", which records
// activity (POST /session/keepalive) without leaving the page. Without
// the script nothing changes: the idle rule is the server's, and a message
// posted after it is kept until its writer signs in again.
(function () {
  "use strict";
  var meta = document.querySelector('meta[name="session-idle"]');
  var box = document.getElementById("idle-warning");
  if (!meta || !box) { return; }
  var idle = Number(meta.content) * 1000;
  if (!(idle > 0)) { return; }
  var warnBefore = Math.min(120000, idle / 4);
  var text = box.querySelector("[data-idle-text]");
  var stay = box.querySelector("[data-idle-stay]");
  var warnTimer, endTimer;

  function schedule() {
    clearTimeout(warnTimer);
    clearTimeout(endTimer);
    warnTimer = setTimeout(warn, idle - warnBefore);
    endTimer = setTimeout(ended, idle);
  }
  function warn() {
    box.hidden = false;
    stay.focus();
  }
  function ended() {
    box.hidden = false;
    stay.hidden = true;
    text.textContent = "You were signed out after a period without activity. " +
      "What you typed on this page is still here: send it, and after signing in again it comes back, ready to send.";
  }
  stay.addEventListener("click", function () {
    // A browser already signed out is sent to the sign-in page: not
    // followed ("manual"), it is no 204, and the box says so.
    fetch("/session/keepalive", { method: "POST", credentials: "same-origin", redirect: "manual" }).then(function (r) {
      if (r.status === 204) {
        box.hidden = true;
        schedule();
      } else {
        ended();
      }
    }, ended);
  });
  schedule();
})();
