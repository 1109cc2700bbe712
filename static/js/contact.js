// Uses app.js's helper: both files must have run, in order, for the page to change.
document.addEventListener("DOMContentLoaded", function () {
  var message = document.querySelector("textarea[name=message]");
  var count = message ? message.value.length : 0;
  window.squall.mark("js-status", "JavaScript ran (" + count + " characters typed)");
  if (message) {
    message.addEventListener("input", function () {
      window.squall.mark("js-status", "JavaScript ran (" + message.value.length + " characters typed)");
    });
  }
});
