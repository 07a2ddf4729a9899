/* The "verify the whole election" page: starts verify-worker.js on request, shows its progress
   and its verdict, which names the first difference (translated sentences from the page's
   JSON catalogue, #log-messages). */
(function () {
  "use strict";
  var box = document.getElementById("election-check");
  var catalogue = document.getElementById("log-messages");
  if (!box || !catalogue) return;
  var messages = JSON.parse(catalogue.textContent);
  var start = box.querySelector("button.log-start");
  var bar = box.querySelector("progress");
  var status = box.querySelector(".log-status");
  var verdict = box.querySelector(".log-verdict");
  var first = box.querySelector(".log-first");
  var list = box.querySelector(".log-details");
  var worker = null;

  function format(code, params) {
    var template = messages[code];
    if (template === undefined) {
      template = messages.unexpected;
      params = {detail: code};
    }
    return template.replace(/%\((\w+)\)s/g, function (_, name) {
      var value = params ? params[name] : undefined;
      if (value === undefined || value === null) return messages.nothing;
      if (name === "rule") return messages["rule_" + value] || String(value);
      return String(value);
    });
  }

  function line(p) {
    var item = document.createElement("li");
    item.setAttribute("data-code", p.code);
    item.textContent = format(p.code, p.params);
    if (p.detail) item.setAttribute("data-detail", p.detail);  // tlog.js's, in English
    return item;
  }

  function mark(name) {
    try {
      performance.mark(name);
    } catch (e) { /* old browsers */ }
  }

  function done(result) {
    mark("secki-election-verdict");
    worker.terminate();
    worker = null;
    start.disabled = false;
    bar.hidden = true;
    status.textContent = "";
    list.textContent = "";
    first.textContent = "";
    if (result.ok) {
      box.setAttribute("data-state", "verified");
      verdict.textContent = format(result.witnesses ? "e_verified" : "e_verified_alone", result);
      return;
    }
    box.setAttribute("data-state", "failed");
    verdict.textContent = messages.e_failed;
    first.textContent = format(result.problems[0].code, result.problems[0].params);
    result.problems.slice(1, 50).forEach(function (p) { list.appendChild(line(p)); });
    if (result.problems.length > 50) {
      list.appendChild(line({code: "e_more", params: {count: result.problems.length - 50}}));
    }
  }

  start.addEventListener("click", function () {
    if (worker) return;
    if (!window.Worker) {
      box.setAttribute("data-state", "failed");
      verdict.textContent = messages.e_worker;
      return;
    }
    start.disabled = true;
    mark("secki-election-start");
    box.setAttribute("data-state", "checking");
    verdict.textContent = "";
    first.textContent = "";
    list.textContent = "";
    bar.hidden = false;
    bar.removeAttribute("value");
    worker = new Worker(box.getAttribute("data-worker"));
    worker.onmessage = function (event) {
      var message = event.data;
      if (message.type === "phase") status.textContent = messages[message.code] || "";
      else if (message.type === "progress") {
        bar.max = Math.max(message.total, 1);
        bar.value = message.done;
        status.textContent = format("e_progress", {done: message.done, total: message.total});
      } else if (message.type === "done") done(message.result);
    };
    worker.onerror = function () {
      done({ok: false, problems: [{code: "e_worker", params: {}}]});
    };
    worker.postMessage({
      site: box.getAttribute("data-site"),
      election: box.getAttribute("data-election"),
      tlog: new URL(box.getAttribute("data-tlog"), location.href).href,
      fallback: new URL(box.getAttribute("data-fallback"), location.href).href,
    });
  });
  start.disabled = false;
})();
