/* Secki observers' service worker: keeps the phone pages (check-in, checklists, incident form)
   and their static files, so that they open with no connection. Pages: the network first, the
   cached copy when there is none. Writes are never touched: the pages queue them in IndexedDB
   and send them to the API with an Idempotency-Key (field.js). */
"use strict";
const CACHE = "secki-field-v1";

self.addEventListener("install", () => self.skipWaiting());
self.addEventListener("activate", (event) => event.waitUntil(self.clients.claim()));

self.addEventListener("fetch", (event) => {
  const request = event.request;
  if (request.method !== "GET") return;
  const url = new URL(request.url);
  if (url.origin !== self.location.origin || url.pathname.startsWith("/api/")) return;
  const keep = request.mode === "navigate" || url.pathname.startsWith("/static/");
  event.respondWith(
    fetch(request)
      .then((response) => {
        if (keep && response.ok && !response.redirected) {
          const copy = response.clone();
          event.waitUntil(caches.open(CACHE).then((cache) => cache.put(request, copy)));
        }
        return response;
      })
      .catch(() =>
        caches
          .match(request, { ignoreSearch: request.mode === "navigate" })
          .then((hit) => hit || Response.error())
      )
  );
});
