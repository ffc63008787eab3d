// A "Print" button on conversation pages, for clinic staff who file a
// message in a patient's chart. Without this script the button stays hidden
// and the browser's own Print works the same (the stylesheet has print rules).
(function () {
  "use strict";
  var buttons = document.querySelectorAll("button[data-print]");
  for (var i = 0; i < buttons.length; i++) {
    buttons[i].hidden = false;
    buttons[i].addEventListener("click", function () { window.print(); });
  }
})();
