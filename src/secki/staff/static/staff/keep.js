/* Keep what an official typed when a submission is refused for a stale session (CSRF
 * failure, e.g. an expired log-in): a form marked data-keep stores its values in this tab's
 * sessionStorage as it is submitted; the CSRF failure page marks them as not saved; the next
 * time the form opens (after logging in again) they are filled back in. Values of a
 * submission that went through are dropped when the form next opens. Nothing leaves the
 * browser. */
(function () {
  "use strict";
  var PREFIX = "secki-keep:";

  function read(key) {
    try { return JSON.parse(window.sessionStorage.getItem(key) || "null"); } catch (e) { return null; }
  }
  function write(key, value) {
    try { window.sessionStorage.setItem(key, JSON.stringify(value)); } catch (e) { /* full or off */ }
  }

  var failed = document.getElementById("csrf-failed");
  if (failed) {
    var key = PREFIX + failed.getAttribute("data-path");
    var entry = read(key);
    if (entry) {
      entry.failed = true;
      write(key, entry);
      var note = document.getElementById("kept-note");
      if (note) { note.hidden = false; }
    }
    return;
  }

  Array.prototype.forEach.call(document.querySelectorAll("form[data-keep]"), function (form) {
    var key = PREFIX + window.location.pathname;
    var entry = read(key);
    try { window.sessionStorage.removeItem(key); } catch (e) { /* off */ }
    if (entry && entry.failed && entry.values) {
      var restored = 0;
      Object.keys(entry.values).forEach(function (name) {
        var field = form.elements.namedItem(name);
        if (field && "value" in field && !field.value && field.type !== "hidden") {
          field.value = entry.values[name];
          restored += 1;
        }
      });
      var note = document.getElementById("restored-note");
      if (note && restored) { note.hidden = false; }
      if (restored) { form.dispatchEvent(new Event("input", { bubbles: true })); }
    }
    form.addEventListener("submit", function () {
      var values = {};
      Array.prototype.forEach.call(form.elements, function (field) {
        if (!field.name || field.name === "csrfmiddlewaretoken" || field.type === "hidden") { return; }
        if ((field.type === "checkbox" || field.type === "radio") && !field.checked) { return; }
        values[field.name] = field.value;
      });
      write(key, { values: values, failed: false });
    });
  });
})();
