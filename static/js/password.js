// Live length count for new-password fields (NIST SP 800-63B asks for
// length, not composition, so length is the one thing worth showing as the
// user types). The server still checks everything, including common
// passwords; without this script the form works the same.
(function () {
  "use strict";
  var fields = document.querySelectorAll("input[data-min-length]");
  for (var i = 0; i < fields.length; i++) {
    (function (input) {
      var min = parseInt(input.getAttribute("data-min-length"), 10);
      var out = document.getElementById(input.id + "-count");
      if (!out) return;
      var update = function () {
        var n = Array.from(input.value).length; // code points, as the server counts
        if (n === 0) {
          out.textContent = "";
        } else if (n < min) {
          out.textContent = n + " characters: " + (min - n) + " more needed.";
        } else {
          out.textContent = n + " characters: long enough.";
        }
      };
      input.addEventListener("input", update);
      update();
    })(fields[i]);
  }
})();
