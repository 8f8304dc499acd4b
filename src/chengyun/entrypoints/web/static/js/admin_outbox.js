// The outbox page: asks before replaying every dead letter at once.
// (Kept out of the page: the Content-Security-Policy forbids inline scripts.)
(function () {
  "use strict";

  var forms = document.querySelectorAll("form[data-confirm]");
  for (var i = 0; i < forms.length; i++) {
    forms[i].addEventListener("submit", function (event) {
      if (!window.confirm(event.currentTarget.getAttribute("data-confirm"))) {
        event.preventDefault();
      }
    });
  }
})();
