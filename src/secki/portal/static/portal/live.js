/* Live updates without reloading: poll the page's live part with If-None-Match and swap it in
   when the server says it changed (200); a 304 costs the server two small queries. */
(function () {
  "use strict";
  var box = document.querySelector("[data-live-url]");
  if (!box || !window.fetch) return;
  var etag = box.getAttribute("data-etag") || "";
  var every = parseInt(box.getAttribute("data-every"), 10) || 5000;
  var status = document.getElementById("live-status");

  function swap(html) {
    var active = document.activeElement;
    var href = active && box.contains(active) ? active.getAttribute("href") : null;
    box.innerHTML = html;
    if (href) {
      var links = box.querySelectorAll("a[href]");
      for (var i = 0; i < links.length; i++) {
        if (links[i].getAttribute("href") === href) { links[i].focus(); break; }
      }
    }
    if (status) {
      status.textContent = (status.getAttribute("data-updated") || "") + " " +
        new Date().toLocaleTimeString(document.documentElement.lang || undefined);
    }
    document.dispatchEvent(new CustomEvent("secki:updated"));
  }

  function tick() {
    if (document.hidden) { window.setTimeout(tick, every); return; }
    var headers = {"Accept": "text/html"};
    if (etag) headers["If-None-Match"] = etag;
    fetch(box.getAttribute("data-live-url"), {headers: headers, cache: "no-store", credentials: "same-origin"})
      .then(function (response) {
        if (response.status !== 200) return null;
        etag = response.headers.get("ETag") || etag;
        return response.text().then(swap);
      })
      .catch(function () { /* offline or server busy: try again later */ })
      .then(function () { window.setTimeout(tick, every); });
  }
  window.setTimeout(tick, every);
})();
