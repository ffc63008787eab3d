// Staff compose: once the provider's address is entered, say which way the
// message will go (straight to their inbox over TLS, or waiting in the
// portal). Without this script the thread page says it after sending.
(function () {
  "use strict";
  var out = document.getElementById("delivery-hint");
  var input = document.querySelector("input[name=to]");
  if (!input || !out) { return; }
  var asked = "";
  function ask() {
    var to = input.value.trim();
    if (to === asked || to.indexOf("@") < 1) { return; }
    asked = to;
    out.textContent = "Checking how this message will be delivered…";
    fetch(out.getAttribute("data-url") + "?to=" + encodeURIComponent(to), { credentials: "same-origin" })
      .then(function (r) { return r.ok ? r.json() : null; })
      .then(function (hint) { if (asked === to) { out.textContent = hint ? hint.text : ""; } })
      .catch(function () { if (asked === to) { out.textContent = ""; } });
  }
  input.addEventListener("change", ask);
  input.addEventListener("blur", ask);
})();
