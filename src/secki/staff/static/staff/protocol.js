/* Protocol forms: running totals while typing, and the election's control relations
 * evaluated by the JSON API (POST …/protocols-check stores nothing) before submitting.
 * The form works without this script: the server checks everything again on submit. */
(function () {
  "use strict";
  var form = document.getElementById("protocol-form");
  if (!form) {
    return;
  }
  var checkUrl = form.dataset.checkUrl || "";
  var validLine = form.dataset.validLine || "";
  var actCodes = (form.dataset.actCodes || "").split(",").filter(Boolean);
  var fixedStation = form.dataset.station || "";
  var csrfInput = form.querySelector("input[name=csrfmiddlewaretoken]");
  var csrf = csrfInput ? csrfInput.value : "";
  var inputs = Array.prototype.slice.call(form.querySelectorAll("input[data-line]"));
  var candidates = inputs.filter(function (i) { return i.dataset.candidate; });
  var candTotal = document.getElementById("cand-total");
  var validTotal = document.getElementById("valid-total");
  var verdict = document.getElementById("sum-verdict");
  var panel = document.getElementById("live-checks");
  var summary = document.getElementById("live-summary");
  var actBox = document.getElementById("act-box");
  var timer = null;
  var sequence = 0;
  // the page's words, translated by the template (staff/_live.html); English when absent
  var words = (document.getElementById("protocol-text") || { dataset: {} }).dataset;

  function say_(name, english, values) {
    var text = words[name] || english;
    return text.replace(/\{(\w+)\}/g, function (whole, key) {
      return values && key in values ? String(values[key]) : whole;
    });
  }

  function whole(value) {
    var v = value.trim();
    return /^[0-9]+$/.test(v) ? parseInt(v, 10) : null;
  }

  function el(tag, cls, text) {
    var node = document.createElement(tag);
    if (cls) { node.className = cls; }
    if (text !== undefined) { node.textContent = text; }
    return node;
  }

  function markInput(input) {
    if (input.type === "datetime-local") { return; }
    var v = input.value.trim();
    var bad = v !== "" && whole(v) === null;
    input.setAttribute("aria-invalid", bad ? "true" : "false");
    input.title = bad ? input.name + ": a whole number, 0 or more" : "";
  }

  function totals() {
    var sum = 0;
    var complete = true;
    candidates.forEach(function (i) {
      var n = whole(i.value);
      if (n === null) { complete = false; } else { sum += n; }
    });
    if (candTotal) {
      candTotal.textContent = sum.toLocaleString() + (complete ? "" : " " + say_("notAllFilled", "(not all filled)"));
    }
    if (!validLine || !validTotal) { return; }
    var field = form.elements.namedItem(validLine);
    var valid = field ? whole(field.value) : null;
    validTotal.textContent = valid === null ? "—" : valid.toLocaleString();
    if (valid === null || !complete) {
      verdict.textContent = "";
      verdict.className = "";
    } else if (valid === sum) {
      verdict.textContent = say_("equal", "✓ equal");
      verdict.className = "ok";
    } else {
      verdict.textContent = say_("differ", "✗ differ by {n}", { n: Math.abs(valid - sum).toLocaleString() });
      verdict.className = "bad";
    }
  }

  function station() {
    if (fixedStation) { return fixedStation; }
    var field = form.elements.namedItem("station");
    return field && field.value ? field.value.trim() : "";
  }

  // a hard check that no act can accept blocks the submission until the lines are corrected
  // (the server checks again on submit, and without this script)
  var submitButton = form.querySelector('button[type="submit"]');
  function block(on) {
    if (submitButton) { submitButton.disabled = on; }
  }
  form.addEventListener("submit", function (event) {
    if (submitButton && submitButton.disabled) { event.preventDefault(); }
  });

  function say(text, cls) {
    block(false);
    panel.textContent = "";
    panel.appendChild(el("p", cls || "muted", text));
    if (summary) {
      summary.textContent = "";
      summary.className = "";
    }
  }

  function show(body) {
    panel.textContent = "";
    var needAct = false;
    var list = el("ul", "checks");
    body.checks.forEach(function (c) {
      var state = c.passed === true ? "ok" : c.passed === false ? "bad" : "na";
      var mark = c.passed === true ? "✓" : c.passed === false ? "✗" : "–";
      var li = el("li", state);
      var severity = c.severity === "hard" ? say_("hard", "hard") : say_("soft", "soft");
      li.appendChild(el("strong", "", mark + " " + c.code + " (" + severity + ") "));
      li.appendChild(document.createTextNode(
        c.passed === null ? say_("notApplicable", "not applicable:") + " " + c.message : c.message
      ));
      var parts = Object.keys(c.values || {}).map(function (k) { return k + "=" + c.values[k]; });
      if (parts.length && c.passed === false) {
        li.appendChild(el("span", "muted", " (" + parts.join(", ") + ")"));
      }
      if (c.passed === false && actCodes.indexOf(c.code) >= 0) { needAct = true; }
      list.appendChild(li);
    });
    panel.appendChild(el(
      "p",
      body.acceptable ? "ok" : "bad",
      body.acceptable
        ? say_("allPass", "Every hard check passes.")
        : needAct
          ? say_("failsAct", "A hard check fails: record the commission's act below, or correct the lines.")
          : say_("fails", "A hard check fails: correct the lines named below before submitting.")
    ));
    panel.appendChild(list);
    if (needAct && actBox) { actBox.hidden = false; }
    block(!body.acceptable && !needAct);
    if (summary) {
      var failing = body.checks.filter(function (c) { return c.passed === false; });
      var hard = failing.filter(function (c) { return c.severity === "hard"; });
      summary.className = hard.length ? "bad" : "ok";
      var codes = function (list) { return list.map(function (c) { return c.code; }).join(", "); };
      summary.textContent = hard.length
        ? say_("summaryFails", "✗ fails {codes}", { codes: codes(hard) })
        : say_("summaryPass", "✓ hard checks pass") +
          (failing.length ? " " + say_("summarySoft", "(soft: {codes})", { codes: codes(failing) }) : "");
    }
  }

  function check() {
    if (!checkUrl || !panel) { return; }
    var code = station();
    if (!code) {
      say(say_("chooseStation", "Choose the polling station to run the checks."));
      return;
    }
    var values = {};
    inputs.forEach(function (i) {
      var v = i.value.trim();
      if (v === "") { return; }
      // a count as a JSON number (the API takes no digit strings); an instant, or text the
      // API refuses naming the line, as typed
      var n = i.type === "datetime-local" ? null : whole(v);
      values[i.name] = n === null ? v : n;
    });
    var mine = ++sequence;
    fetch(checkUrl, {
      method: "POST",
      credentials: "same-origin",
      headers: { "Content-Type": "application/json", "Accept": "application/json", "X-CSRFToken": csrf },
      body: JSON.stringify({ station: code, values: values })
    }).then(function (response) {
      return response.json().catch(function () { return {}; }).then(function (body) {
        if (mine !== sequence) { return; }
        if (response.ok) {
          show(body);
          return;
        }
        var error = body.error || {};
        if (error.code === "missing_line") {
          say(say_("missingLine", "The checks run once every required line is filled ({message}).", { message: error.message }));
        } else {
          say(error.message || say_("couldNotRun", "The checks could not run (HTTP {status}).", { status: response.status }), "bad");
        }
      });
    }).catch(function () {
      if (mine === sequence) { say(say_("offline", "The checks could not run (no connection); they run again on submit.")); }
    });
  }

  function changed(event) {
    if (event && event.target && event.target.dataset && event.target.dataset.line) {
      markInput(event.target);
    }
    totals();
    clearTimeout(timer);
    timer = setTimeout(check, 400);
  }

  form.addEventListener("input", changed);
  form.addEventListener("change", changed);
  totals();
  if (inputs.some(function (i) { return i.value.trim() !== ""; })) { check(); }
})();
