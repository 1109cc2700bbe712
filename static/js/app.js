/*! squall example site: a tiny helper that contact.js uses. */
(function (root) {
  "use strict";
  function mark(id, text) {
    var el = document.getElementById(id);
    if (!el) {
      return false;
    }
    el.textContent = text;
    el.setAttribute("data-state", "ran");
    return true;
  }
  root.squall = { mark: mark };
})(window);
