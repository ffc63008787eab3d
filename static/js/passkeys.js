// Passkeys (WebAuthn): sign in with one on the sign-in page, add one on the
// passkeys page. The server's begin endpoints answer go-webauthn's options
// ({"publicKey": {...}}) with binary values in base64url; the browser's
// answer goes back the same way. Without this script (or a browser that
// supports passkeys) those parts of the pages stay hidden.
(function () {
  "use strict";
  if (!window.PublicKeyCredential || !window.fetch) { return; }

  function toBuf(s) {
    s = s.replace(/-/g, "+").replace(/_/g, "/");
    while (s.length % 4) { s += "="; }
    var bin = atob(s), out = new Uint8Array(bin.length);
    for (var i = 0; i < bin.length; i++) { out[i] = bin.charCodeAt(i); }
    return out.buffer;
  }
  function toB64(buf) {
    if (!buf) { return null; }
    var bytes = new Uint8Array(buf), bin = "";
    for (var i = 0; i < bytes.length; i++) { bin += String.fromCharCode(bytes[i]); }
    return btoa(bin).replace(/\+/g, "-").replace(/\//g, "_").replace(/=+$/, "");
  }
  function ids(list) {
    (list || []).forEach(function (c) { c.id = toBuf(c.id); });
  }
  function post(url, body) {
    return fetch(url, {
      method: "POST", credentials: "same-origin",
      headers: { "Content-Type": "application/json" },
      body: JSON.stringify(body || {})
    }).then(function (res) {
      return res.json().then(function (j) {
        if (!res.ok) { throw new Error(j.error || "Something went wrong. Please try again."); }
        return j;
      });
    });
  }
  function common(cred) {
    return {
      id: cred.id, rawId: toB64(cred.rawId), type: cred.type,
      authenticatorAttachment: cred.authenticatorAttachment || undefined,
      clientExtensionResults: cred.getClientExtensionResults()
    };
  }
  function created(cred) {
    var r = cred.response, out = common(cred);
    out.response = {
      clientDataJSON: toB64(r.clientDataJSON), attestationObject: toB64(r.attestationObject),
      transports: r.getTransports ? r.getTransports() : []
    };
    return out;
  }
  function asserted(cred) {
    var r = cred.response, out = common(cred);
    out.response = {
      clientDataJSON: toB64(r.clientDataJSON), authenticatorData: toB64(r.authenticatorData),
      signature: toB64(r.signature), userHandle: toB64(r.userHandle)
    };
    return out;
  }
  function say(text) {
    var el = document.getElementById("passkey-status");
    if (el) { el.textContent = text; }
  }
  // A person who closes the browser's prompt needs no error message.
  function failed(e) {
    if (e && (e.name === "AbortError" || e.name === "NotAllowedError")) {
      say("No passkey was used. You can try again, or sign in with your email address and password.");
      return;
    }
    say(e && e.message ? e.message : "Something went wrong. Please try again.");
  }

  // Sign-in page.
  var loginButton = document.getElementById("passkey-login");
  if (loginButton) {
    var next = loginButton.getAttribute("data-next") || "";
    var autofill = null;
    var signIn = function (mode) {
      var q = mode === "autofill" ? "?autofill=1" : "?";
      return post("/webauthn/login/begin" + q).then(function (opts) {
        var pk = opts.publicKey;
        pk.challenge = toBuf(pk.challenge);
        ids(pk.allowCredentials);
        var req = { publicKey: pk };
        if (mode === "autofill") { req.mediation = "conditional"; req.signal = autofill.signal; }
        return navigator.credentials.get(req);
      }).then(function (cred) {
        return post("/webauthn/login/finish" + q + "&next=" + encodeURIComponent(next), asserted(cred));
      }).then(function (res) { window.location.assign(res.redirect); });
    };
    document.querySelector("[data-testid=passkey-sign-in]").hidden = false;
    loginButton.addEventListener("click", function () {
      if (autofill) { autofill.abort(); autofill = null; }
      say("");
      signIn("button").catch(failed);
    });
    if (PublicKeyCredential.isConditionalMediationAvailable) {
      PublicKeyCredential.isConditionalMediationAvailable().then(function (ok) {
        if (!ok) { return; }
        autofill = new AbortController();
        // Quietly: the email field's suggestions are only an offer.
        signIn("autofill").catch(function () {});
      });
    }
  }

  // Passkeys page.
  var addButton = document.getElementById("passkey-register");
  if (addButton) {
    document.getElementById("passkey-add").hidden = false;
    document.getElementById("passkey-unsupported").hidden = true;
    addButton.addEventListener("click", function () {
      say("");
      var name = document.getElementById("field-name").value;
      post("/webauthn/register/begin").then(function (opts) {
        var pk = opts.publicKey;
        pk.challenge = toBuf(pk.challenge);
        pk.user.id = toBuf(pk.user.id);
        ids(pk.excludeCredentials);
        return navigator.credentials.create({ publicKey: pk });
      }).then(function (cred) {
        return post("/webauthn/register/finish?name=" + encodeURIComponent(name), created(cred));
      }).then(function (res) { window.location.assign(res.redirect); }).catch(failed);
    });
  }
})();
