/* The observer's phone pages offline: registers the service worker (sw.js, which keeps the
   pages), keeps the pages listed in #field's data-pages in the cache, and turns a form's submit
   into an item of a queue in IndexedDB, each with its own Idempotency-Key made when it is
   queued. The queue is sent to the API when the phone is online (at once, on the "online"
   event, when a page opens); a resent item gets the first answer, so it is stored once. An item
   the server refuses (4xx) leaves the queue and is shown with the server's message; one that
   could not be sent (no connection, 5xx) stays for the next try. An incident's photos and
   videos are kept in the item as Blobs and sent with it as one multipart form
   (incidents/with-evidence), under the same key. */
"use strict";
(function () {
  const root = document.getElementById("field");
  if (!root) return;
  const CACHE = "secki-field-v1";
  const api = root.dataset.api;
  const text = (name) => {
    const el = root.querySelector(`[data-text="${name}"]`);
    return el ? el.textContent : name;
  };
  const queueEl = document.getElementById("queue");
  const refusedEl = document.getElementById("refused");
  let sent = 0;
  let refused = 0;
  let flushing = null;

  if ("serviceWorker" in navigator) {
    navigator.serviceWorker
      .register(root.dataset.worker, { scope: root.dataset.scope })
      .then(() => navigator.serviceWorker.ready)
      .then(() => {
        if (!navigator.onLine || !("caches" in window)) return;
        const urls = root.dataset.pages.split(" ").filter(Boolean);
        document.querySelectorAll("link[rel=stylesheet], script[src]").forEach((el) => {
          urls.push(el.getAttribute("href") || el.getAttribute("src"));
        });
        return caches.open(CACHE).then((cache) =>
          Promise.all(urls.map((u) => cache.add(u).catch(() => null)))
        );
      })
      .then(() => queueEl.setAttribute("data-ready", "1"))
      .catch(() => queueEl.setAttribute("data-ready", "0"));
  }

  function db() {
    return new Promise((resolve, reject) => {
      const open = indexedDB.open("secki-field", 1);
      open.onupgradeneeded = () => open.result.createObjectStore("queue", { keyPath: "key" });
      open.onsuccess = () => resolve(open.result);
      open.onerror = () => reject(open.error);
    });
  }
  function store(mode, work) {
    return db().then(
      (handle) =>
        new Promise((resolve, reject) => {
          const tx = handle.transaction("queue", mode);
          const result = work(tx.objectStore("queue"));
          tx.oncomplete = () => resolve(result && "result" in result ? result.result : undefined);
          tx.onerror = () => reject(tx.error);
        })
    );
  }
  const all = () => store("readonly", (s) => s.getAll());
  const put = (item) => store("readwrite", (s) => s.put(item));
  const drop = (key) => store("readwrite", (s) => s.delete(key));

  function show(items) {
    queueEl.dataset.waiting = String(items.length);
    queueEl.dataset.sent = String(sent);
    queueEl.dataset.refused = String(refused);
    queueEl.querySelector(".waiting").textContent = String(items.length);
    queueEl.querySelector(".sent").textContent = String(sent);
  }
  const refresh = () => all().then(show);

  function csrf() {
    const input = document.querySelector("input[name=csrfmiddlewaretoken]");
    return input ? input.value : "";
  }

  function request(item) {
    const headers = {
      Accept: "application/json",
      "Idempotency-Key": item.key,
      "X-CSRFToken": csrf(),
    };
    if (item.files && item.files.length) {
      const data = new FormData();
      for (const [name, value] of Object.entries(item.body)) data.append(name, value);
      for (const file of item.files) data.append("evidence", file.blob, file.name);
      return { url: `${api}/${item.endpoint}/with-evidence`, headers, body: data };
    }
    headers["Content-Type"] = "application/json";
    return { url: `${api}/${item.endpoint}`, headers, body: JSON.stringify(item.body) };
  }

  function sendOne(item) {
    const { url, headers, body } = request(item);
    return fetch(url, {
      method: "POST",
      credentials: "same-origin",
      headers,
      body,
    }).then((response) => {
      if (response.ok) {
        sent += 1;
        return drop(item.key);
      }
      if (response.status >= 400 && response.status < 500 && response.status !== 401) {
        return response.json().then((body) => {
          refused += 1;
          const li = document.createElement("li");
          const error = (body && body.error) || {};
          li.textContent = `${text("refused")} ${item.label}: ${error.message || response.status}`;
          li.dataset.field = error.field || "";
          refusedEl.appendChild(li);
          return drop(item.key);
        });
      }
      throw new Error(`HTTP ${response.status}`);
    });
  }

  function flush() {
    if (flushing) return flushing;
    flushing = all()
      .then((items) => {
        if (!navigator.onLine) return null;
        items.sort((a, b) => a.queued - b.queued);
        return items.reduce((chain, item) => chain.then(() => sendOne(item)), Promise.resolve());
      })
      .catch(() => null)
      .then(() => {
        flushing = null;
        return refresh();
      });
    return flushing;
  }

  function now() {
    const d = new Date();
    const pad = (n) => String(n).padStart(2, "0");
    const offset = -d.getTimezoneOffset();
    const sign = offset >= 0 ? "+" : "-";
    const abs = Math.abs(offset);
    return (
      `${d.getFullYear()}-${pad(d.getMonth() + 1)}-${pad(d.getDate())}T` +
      `${pad(d.getHours())}:${pad(d.getMinutes())}:${pad(d.getSeconds())}` +
      `${sign}${pad(Math.floor(abs / 60))}:${pad(abs % 60)}`
    );
  }

  function body(form, submitter) {
    const data = new FormData(form);
    const station = String(data.get("station") || "").trim();
    const kind = form.dataset.queue;
    if (kind === "checkins") {
      return { station, kind: submitter ? submitter.value : "", at: now() };
    }
    if (kind === "checklist-answers") {
      const answers = {};
      for (const [name, value] of data.entries()) {
        if (name === "csrfmiddlewaretoken" || name === "station") continue;
        if (String(value).trim() !== "") answers[name] = String(value);
      }
      return { form: form.dataset.form, station, answers, at: now() };
    }
    return {
      station,
      category: String(data.get("category") || ""),
      occurred_at: String(data.get("occurred_at") || ""),
      description: String(data.get("description") || ""),
    };
  }

  document.querySelectorAll("form[data-queue]").forEach((form) => {
    form.addEventListener("submit", (event) => {
      event.preventDefault();
      const payload = body(form, event.submitter);
      const input = form.querySelector("input[type=file]");
      // the files themselves (Blobs): IndexedDB keeps them until the item is sent
      const files = input
        ? Array.from(input.files, (f) => ({ name: f.name, type: f.type, blob: f }))
        : [];
      const item = {
        key: crypto.randomUUID(),
        endpoint: form.dataset.queue,
        body: payload,
        files,
        label: `${payload.station || "—"} ${payload.form || payload.kind || payload.category || ""}`,
        queued: Date.now(),
      };
      put(item)
        .then(() => {
          const status = document.createElement("p");
          status.className = "msg";
          status.setAttribute("role", "status");
          status.textContent = navigator.onLine ? text("sent") : text("queued");
          form.before(status);
          if (form.dataset.queue !== "checkins") form.reset();
          return refresh();
        })
        .then(flush);
    });
  });

  window.addEventListener("online", flush);
  window.addEventListener("offline", () => {
    queueEl.classList.add("offline");
    queueEl.title = text("offline");
  });
  refresh().then(flush);
})();
