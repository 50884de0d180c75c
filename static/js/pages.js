/* Small behaviours of every page. Without scripts the pages work as before (the server checks everything).
 * - Removals and revocations ask first: <form data-confirm="Remove alice from Platform?">.
 * - A table wider than its panel scrolls inside it, and can be scrolled from the keyboard (focusable). */
(function () {
  "use strict";
  document.addEventListener("submit", function (event) {
    var form = event.target;
    if (form.matches && form.matches("form[data-confirm]") && !window.confirm(form.getAttribute("data-confirm"))) {
      event.preventDefault();
    }
  });

  function scrollables() {
    document.querySelectorAll(".table-wrap, .table-scroll").forEach(function (box) {
      var wide = box.scrollWidth > box.clientWidth + 1;
      if (wide && !box.hasAttribute("tabindex")) {
        box.setAttribute("tabindex", "0");
        var caption = box.querySelector("caption");
        box.setAttribute("role", "region");
        box.setAttribute("aria-label", caption ? caption.textContent.trim() : "Table");
      }
    });
  }
  document.addEventListener("DOMContentLoaded", scrollables);
  window.addEventListener("resize", scrollables);
  document.addEventListener("toggle", scrollables, true);  // tables inside <details> once opened
})();
