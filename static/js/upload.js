// Upload progress for forms marked data-upload. Without this script the form
// posts normally; with it, the same POST goes through XMLHttpRequest so the
// sender can watch a progress bar while large attachments upload.
(function () {
  "use strict";
  function enhance(form) {
    var box = form.querySelector("[data-upload-progress]");
    if (!box || !window.FormData || !window.XMLHttpRequest) return;
    // Enhance a form once, even if a page should load this script twice.
    if (form.hasAttribute("data-upload-ready")) return;
    form.setAttribute("data-upload-ready", "");
    var bar = box.querySelector("progress");
    var status = box.querySelector("[data-upload-status]");
    var button = form.querySelector("button[type=submit]");
    form.addEventListener("submit", function (event) {
      var files = form.querySelector("input[type=file]");
      if (!files || files.files.length === 0) return; // nothing slow to show
      event.preventDefault();
      var xhr = new XMLHttpRequest();
      xhr.open("POST", form.action);
      xhr.upload.addEventListener("progress", function (e) {
        if (!e.lengthComputable) return;
        var pct = Math.round((e.loaded / e.total) * 100);
        bar.value = pct;
        status.textContent = pct + "% sent";
      });
      xhr.addEventListener("load", function () {
        if (xhr.responseURL && xhr.responseURL !== form.action) {
          window.location.assign(xhr.responseURL); // the server redirected: follow it
          return;
        }
        // A form with problems, or an error page: show what the server said.
        document.open();
        document.write(xhr.responseText);
        document.close();
      });
      xhr.addEventListener("error", function () {
        status.textContent = "Sending failed. Check your connection and try again.";
        button.disabled = false;
      });
      box.hidden = false;
      button.disabled = true;
      status.textContent = "0% sent";
      xhr.send(new FormData(form));
    });
  }
  var forms = document.querySelectorAll("form[data-upload]");
  for (var i = 0; i < forms.length; i++) enhance(forms[i]);
})();
