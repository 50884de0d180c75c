/* Removals and revocations ask first: <form data-confirm="Remove alice from Platform?">. Without
 * scripts the form submits as before (the server still checks everything). */
(function () {
  "use strict";
  document.addEventListener("submit", function (event) {
    var form = event.target;
    if (form.matches && form.matches("form[data-confirm]") && !window.confirm(form.getAttribute("data-confirm"))) {
      event.preventDefault();
    }
  });
})();
