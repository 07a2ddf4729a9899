/* The station page checks itself against the public transparency log, in the visitor's
   browser (issue 14 item 6; spec §5.5 step 1, mirroring `secki verify --station`).

   Once the page has loaded: fetch the site's log key and witness policy, the election's
   checkpoint and the station's hints file; open the checkpoint (the log's Ed25519 signature, a
   quorum of distinct policy witnesses); check it extends the one this browser verified on an
   earlier visit (localStorage); fetch the station's entries, each checked against its level-0
   tile and proven included in the checkpoint's root by a path rebuilt from tiles; then compare
   them with what the page shows: the protocol's lines (data-value of #protocol-lines), the
   page's SHA-256 of the log entry (#log-leaf), the scan links' hashes and the scan file the log
   publishes, the turnout reports. The log key and witness policy verified on the first visit
   are pinned (localStorage) like the verifier's state file pins them: a site that changes them
   fails until the visitor, having compared the new ones, trusts them. The verdict is green ("Verified against checkpoint N, signed
   by …, cosigned by …") or red, naming what failed; translated sentences come from the page's
   JSON catalogue (#log-messages). A page newer than the published checkpoint (its
   data-log-size beyond the checkpoint's size) is checked again every few seconds. */
(function () {
  "use strict";
  var box = document.getElementById("log-check");
  var catalogue = document.getElementById("log-messages");
  if (!box || !catalogue || !window.fetch || !window.SeckiTlog || !window.TextDecoder) return;
  var T = window.SeckiTlog;
  var messages = JSON.parse(catalogue.textContent);
  var site = box.getAttribute("data-site");
  var slug = box.getAttribute("data-election");
  var station = box.getAttribute("data-station");
  var hintPath = box.getAttribute("data-hint");
  var retryEvery = parseInt(box.getAttribute("data-retry-ms"), 10) || 3000;
  var retries = parseInt(box.getAttribute("data-retries"), 10) || 40;
  var verdict = box.querySelector(".log-verdict");
  var list = box.querySelector(".log-details");
  var again = box.querySelector("button.log-again");
  var trust = box.querySelector("button.log-trust");
  T.configure({fallback: box.getAttribute("data-fallback")});

  // what a page newer than the checkpoint shows that the log cannot hold yet (anything else
  // that fails, fails now)
  var LAG = ["line", "turnout", "page_none_log_counted", "page_annulled_log_counted",
    "page_counted_log_annulled", "page_counted_log_none", "page_annulled_log_none", "page_index",
    "page_hash", "scan_page"];
  var running = false;
  var queued = false;
  var attempt = 0;
  var timer = null;

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

  function Finding(ok, code, params, detail) {
    this.ok = ok;
    this.code = code;
    this.params = params || {};
    this.detail = detail || "";
  }

  function fromError(error) {
    if (error instanceof T.VerifyError) return new Finding(false, error.code, error.params, error.detail);
    return new Finding(false, "unexpected", {detail: String(error && error.message || error)});
  }

  function storageKey(origin) {
    return "secki-log:" + location.host + site + origin;
  }

  var PINS = "secki-log-keys:" + location.host + site;

  /** The log key and witness policy this browser trusted on an earlier visit (pinned, as the
      verifier's state file pins them), or null. */
  function pinned() {
    try {
      var saved = JSON.parse(window.localStorage.getItem(PINS) || "null");
      if (saved && typeof saved.key === "string" && typeof saved.policy === "string") return saved;
    } catch (e) { /* no storage */ }
    return null;
  }

  function pin(logKey, policy) {
    try {
      window.localStorage.setItem(PINS, JSON.stringify({key: logKey.text, policy: policy.text}));
    } catch (e) { /* no storage */ }
  }

  function unpin() {
    try {
      window.localStorage.removeItem(PINS);
    } catch (e) { /* no storage */ }
  }

  function remembered(origin) {
    try {
      var saved = JSON.parse(window.localStorage.getItem(storageKey(origin)) || "null");
      if (saved && Number.isSafeInteger(saved.size) && typeof saved.root === "string") {
        var root = T.b64decode(saved.root);
        if (root && root.length === 32) return {size: saved.size, root: root};
      }
    } catch (e) { /* no storage: nothing remembered */ }
    return null;
  }

  function remember(origin, checkpoint) {
    try {
      window.localStorage.setItem(storageKey(origin), JSON.stringify({
        size: checkpoint.size, root: T.b64encode(checkpoint.root),
      }));
    } catch (e) { /* no storage */ }
  }

  // -- what the page shows (its live part may be swapped in at any time) ----------------------

  function pageState() {
    var status = document.getElementById("protocol-status");
    var leaf = document.getElementById("log-leaf");
    var lines = {};
    document.querySelectorAll("#protocol-lines tr[data-line][data-value]").forEach(function (row) {
      var value = row.getAttribute("data-value");
      if (value !== "") lines[row.getAttribute("data-line")] = Number(value);
    });
    var turnout = {};
    document.querySelectorAll("#station-turnout tr[data-time]").forEach(function (row) {
      turnout[row.getAttribute("data-time")] = Number(row.getAttribute("data-voters"));
    });
    var scans = [];
    document.querySelectorAll("#scans [data-sha256]").forEach(function (el) {
      scans.push(el.getAttribute("data-sha256"));
    });
    var size = status ? Number(status.getAttribute("data-log-size")) : 0;
    return {
      state: status ? status.getAttribute("data-log-state") || "none" : "none",
      size: Number.isFinite(size) ? size : 0,
      index: leaf ? Number(leaf.getAttribute("data-index")) : null,
      leaf: leaf ? leaf.getAttribute("data-leaf") : null,
      lines: lines,
      turnout: turnout,
      scans: scans,
    };
  }

  // -- the check ----------------------------------------------------------------------------

  function text(bytes, file) {
    var value = bytes === null ? null : T.decodeUtf8(bytes);
    if (value === null) throw new T.VerifyError(bytes === null ? "missing" : "fetch", {file: file, status: "UTF-8"});
    return value;
  }

  function fresh(path) {
    return /(^|\/)(checkpoint|log\.vkey|witnesses\.txt)$|\/hints\//.test(path);
  }

  function samePolicy(a, b) {
    function names(p) {
      return p.witnesses.map(function (w) { return w.text; }).sort().join(" ");
    }
    return a.quorum === b.quorum && names(a) === names(b);
  }

  function parseHints(bytes) {
    var value;
    try {
      value = T.decodeCanonical(bytes);
    } catch (e) {
      throw new T.VerifyError("hints", {}, e.message);
    }
    var indexes = value.indexes;
    if (Object.keys(value).sort().join(",") !== "election,indexes,station" ||
        value.election !== slug || value.station !== station || !Array.isArray(indexes) ||
        !indexes.every(function (i, n) { return Number.isSafeInteger(i) && i >= 0 && (n === 0 || i > indexes[n - 1]); })) {
      throw new T.VerifyError("hints", {});
    }
    return indexes;
  }

  async function check(findings) {
    var source = T.httpSource(site, fresh);
    var base = slug + "/";
    var files = function (path) { return source(base + path); };
    T.ed25519().catch(function () {});  // the browser's Ed25519, tested while files come in
    var fetching = [source("log.vkey"), source("witnesses.txt"), files("checkpoint"), files(hintPath)];
    // Not trusted yet, the checkpoint's size and the hints already say which bundles and tiles
    // the check needs: fetch them while the keys arrive and the signatures are checked. The
    // reader is used below only if the verified checkpoint is this one.
    var early = Promise.all([fetching[2], fetching[3]]).then(function (both) {
      var unverified = T.parseCheckpoint(T.splitNote(both[0]).text);
      var prefetch = new T.TileReader(files, unverified.size, unverified.root);
      parseHints(both[1]).forEach(function (i) {
        if (i < unverified.size) {
          prefetch.entry(i).catch(function () {});
          prefetch.inclusionPath(i).catch(function () {});
        }
      });
      return prefetch;
    }).catch(function () { return null; });
    var got = await Promise.all(fetching);
    var logKey = await T.parseVkey(text(got[0], site + "log.vkey").trim());
    var policy = await T.parsePolicy(text(got[1], site + "witnesses.txt"));
    var trusted = pinned();
    if (trusted) {  // what this browser trusted before is what it checks with
      var pinnedKey = await T.parseVkey(trusted.key);
      var pinnedPolicy = await T.parsePolicy(trusted.policy);
      if (pinnedKey.text !== logKey.text) {
        findings.push(new Finding(false, "key_changed", {old: pinnedKey.text, new: logKey.text}));
      }
      if (!samePolicy(pinnedPolicy, policy)) findings.push(new Finding(false, "policy_changed", {}));
      logKey = pinnedKey;
      policy = pinnedPolicy;
    }
    if (got[2] === null) throw new T.VerifyError("missing", {file: site + base + "checkpoint"});
    var origin = logKey.name + "/" + slug;
    var now = Math.floor(Date.now() / 1000);
    var opened = await T.openCheckpoint(got[2], logKey, policy, origin, now);
    var checkpoint = opened.checkpoint;
    var size = checkpoint.size;
    var tools = await T.backends();
    box.setAttribute("data-crypto", tools.ed25519);
    findings.push(new Finding(true, trusted ? "ok_key_pinned" : "ok_key", {key: logKey.text}));
    findings.push(new Finding(true, "ok_checkpoint", {
      size: size, count: opened.cosignatures.length, quorum: policy.quorum,
    }));
    var reader = await early;
    if (!reader || reader.size !== size || !T.equal(reader.root, checkpoint.root)) {
      reader = new T.TileReader(files, size, checkpoint.root);
    }

    var saved = remembered(origin);
    if (saved && saved.size > size) {
      findings.push(new Finding(false, "shrunk", {old: saved.size, size: size}));
    } else if (saved && saved.size === size) {
      if (T.equal(saved.root, checkpoint.root)) findings.push(new Finding(true, "ok_same", {size: size}));
      else findings.push(new Finding(false, "fork", {size: size}));
    } else if (saved && saved.size > 0) {
      try {
        var proof = await reader.consistencyProof(saved.size);
        await T.verifyConsistency(saved.size, size, saved.root, checkpoint.root, proof);
        findings.push(new Finding(true, "ok_consistent", {old: saved.size, size: size}));
      } catch (e) {
        var f = fromError(e);
        if (f.code !== "consistency") f = new Finding(false, "consistency", {old: saved.size, size: size}, f.code);
        findings.push(f);
      }
    }

    var page = pageState();
    var indexes = got[3] === null ? [] : parseHints(got[3]).filter(function (i) { return i < size; });
    var entries = await Promise.all(indexes.map(function (i) {
      return reader.verifiedEntry(i).then(function (e) {
        var entry;
        try {
          entry = T.parseEntry(e.data);
        } catch (err) {
          throw new T.VerifyError("invalid", {index: i, rule: err.rule}, err.detail);
        }
        if (entry.fields.election !== slug || entry.fields.station !== station) {
          throw new T.VerifyError("not_station", {index: i});
        }
        return {index: i, leaf: e.leaf, entry: entry};
      });
    }));
    if (entries.length) {
      findings.push(new Finding(true, "ok_included", {count: entries.length, size: size}));
    }
    if (compare(page, entries, findings)) {
      await scanFile(source, base, entries, findings);
    }
    var failures = findings.filter(function (x) { return !x.ok; });
    var failed = failures.length > 0;
    var lagging = failures.every(function (x) { return LAG.indexOf(x.code) >= 0; });
    if (failed && lagging && page.size > size) {
      return {status: "pending", headline: new Finding(true, "pending", {page: page.size, size: size}), findings: findings};
    }
    if (!failed) {
      remember(origin, checkpoint);
      if (!trusted) pin(logKey, policy);
    }
    findings.push(new Finding(true, "ok_crypto", tools));
    var witnesses = opened.cosignatures.map(function (c) { return c.name; }).join(", ");
    var headline;
    if (failed) headline = new Finding(false, "failed", {});
    else if (!entries.length && page.state === "none" && !Object.keys(page.turnout).length) {
      headline = new Finding(true, "empty", {size: size, log: logKey.name});
    } else if (witnesses) {
      headline = new Finding(true, "verified", {size: size, log: logKey.name, witnesses: witnesses});
    } else {
      headline = new Finding(true, "verified_alone", {size: size, log: logKey.name});
    }
    return {status: failed ? "failed" : headline.code === "empty" ? "empty" : "verified", headline: headline, findings: findings};
  }

  /** The station's entries replayed (its protocol chain, its turnout reports) and compared
      with the page; returns whether the scan file still has to be checked. */
  function compare(page, entries, findings) {
    var effective = null;
    var lastProtocol = null;
    var turnout = {};
    var i;
    for (i = 0; i < entries.length; i++) {
      var item = entries[i];
      var f = item.entry.fields;
      var kind = item.entry.kind;
      if (kind === "protocol.accepted" || kind === "protocol.amended" || kind === "protocol.annulled") {
        var follows = kind === "protocol.accepted"
          ? effective === null && f.version === 1
          : effective !== null && f.prev && f.prev.index === effective.index &&
            f.prev.leaf_hash === T.hex(effective.leaf) && f.version === effective.entry.fields.version + 1;
        if (!follows) {
          findings.push(new Finding(false, "chain", {index: item.index}));
          return false;
        }
        effective = kind === "protocol.annulled" ? null : item;
        lastProtocol = item;
      } else if (kind === "turnout.reported") {
        turnout[f.time] = f.voters;
      }
    }
    var problems = [];
    var shown = page.state;
    if (effective) {
      if (shown === "none") problems.push(new Finding(false, "page_none_log_counted", {index: effective.index}));
      else if (shown === "annulled") problems.push(new Finding(false, "page_annulled_log_counted", {index: effective.index}));
      else {
        var logged = effective.entry.fields.lines;
        var codes = Array.from(new Set(Object.keys(logged).concat(Object.keys(page.lines)))).sort();
        codes.forEach(function (code) {
          if (page.lines[code] !== logged[code]) {
            problems.push(new Finding(false, "line", {line: code, page: page.lines[code], log: logged[code]}));
          }
        });
        pageEntry(page, effective, problems);
        var scan = effective.entry.fields.scan_sha256;
        if (scan && page.scans.indexOf(scan) < 0) problems.push(new Finding(false, "scan_page", {sha: scan}));
        if (!problems.length) findings.push(new Finding(true, "ok_lines", {count: codes.length, index: effective.index}));
      }
    } else if (lastProtocol) {
      if (shown === "counted") problems.push(new Finding(false, "page_counted_log_annulled", {index: lastProtocol.index}));
      else if (shown === "annulled") {
        pageEntry(page, lastProtocol, problems);
        if (!problems.length) findings.push(new Finding(true, "ok_annulled", {index: lastProtocol.index}));
      } else findings.push(new Finding(true, "ok_none", {}));
    } else if (shown === "counted") {
      problems.push(new Finding(false, "page_counted_log_none", {}));
    } else if (shown === "annulled") {
      problems.push(new Finding(false, "page_annulled_log_none", {}));
    } else findings.push(new Finding(true, "ok_none", {}));

    var times = Array.from(new Set(Object.keys(turnout).concat(Object.keys(page.turnout)))).sort();
    var turnoutProblems = times.filter(function (t) { return page.turnout[t] !== turnout[t]; });
    turnoutProblems.forEach(function (t) {
      problems.push(new Finding(false, "turnout", {time: t, page: page.turnout[t], log: turnout[t]}));
    });
    if (times.length && !turnoutProblems.length) findings.push(new Finding(true, "ok_turnout", {count: times.length}));
    problems.forEach(function (p) { findings.push(p); });
    return Boolean(effective && effective.entry.fields.scan_sha256);
  }

  function pageEntry(page, item, problems) {
    if (page.index !== item.index) problems.push(new Finding(false, "page_index", {page: page.index, log: item.index}));
    var leaf = T.hex(item.leaf);
    if (page.leaf !== leaf) problems.push(new Finding(false, "page_hash", {page: page.leaf, log: leaf}));
  }

  async function scanFile(source, base, entries, findings) {
    var effective = null;
    entries.forEach(function (item) {
      if (item.entry.kind === "protocol.accepted" || item.entry.kind === "protocol.amended") effective = item;
      if (item.entry.kind === "protocol.annulled") effective = null;
    });
    var sha = effective.entry.fields.scan_sha256;
    var data = await source(base + "scans/" + sha);
    if (data === null) {
      findings.push(new Finding(false, "scan_missing", {sha: sha}));
      return;
    }
    var got = T.hex(await T.sha256(data));
    if (got !== sha) findings.push(new Finding(false, "scan_file", {sha: sha, got: got}));
    else findings.push(new Finding(true, "ok_scan", {sha: sha}));
  }

  // -- showing the verdict ------------------------------------------------------------------

  function show(result) {
    box.setAttribute("data-state", result.status);
    verdict.textContent = format(result.headline.code, result.headline.params);
    list.textContent = "";
    var ordered = result.findings.filter(function (f) { return !f.ok; })
      .concat(result.findings.filter(function (f) { return f.ok; }));
    ordered.forEach(function (f) {
      var item = document.createElement("li");
      item.className = f.ok ? "pass" : "fail";
      item.setAttribute("data-code", f.code);
      item.textContent = format(f.code, f.params);
      if (f.detail) item.setAttribute("data-detail", f.detail);  // tlog.js's, in English
      list.appendChild(item);
    });
    if (again) again.hidden = result.status === "pending";
    if (trust) {
      trust.hidden = !result.findings.some(function (f) {
        return f.code === "key_changed" || f.code === "policy_changed";
      });
    }
    if (result.status !== "pending") {
      try {
        performance.mark("secki-log-verdict");
      } catch (e) { /* old browsers */ }
    }
  }

  function run() {
    if (running) {
      queued = true;
      return;
    }
    running = true;
    window.clearTimeout(timer);
    if (box.getAttribute("data-state") === "idle") {
      box.setAttribute("data-state", "checking");
      verdict.textContent = messages.checking;
    }
    var findings = [];
    check(findings).catch(function (error) {
      findings.push(fromError(error));
      return {status: "failed", headline: new Finding(false, "failed", {}), findings: findings};
    }).then(function (result) {
      if (result.status === "pending") {
        attempt += 1;
        if (attempt >= retries) {
          result = {status: "failed", headline: new Finding(false, "failed", {}),
            findings: [new Finding(false, "stale", result.headline.params)].concat(result.findings)};
        } else {
          timer = window.setTimeout(run, retryEvery);
        }
      } else {
        attempt = 0;
      }
      show(result);
      running = false;
      if (queued) {
        queued = false;
        run();
      }
    });
  }

  box.setAttribute("data-state", "idle");
  if (again) {
    again.addEventListener("click", function () {
      attempt = 0;
      run();
    });
  }
  if (trust) {  // the visitor compared the site's new keys with those published elsewhere
    trust.addEventListener("click", function () {
      unpin();
      attempt = 0;
      run();
    });
  }
  // the live part was swapped in: the page shows other figures, check them too
  document.addEventListener("secki:updated", function () {
    attempt = 0;
    run();
  });
  if (document.readyState === "complete") run();
  else window.addEventListener("load", run);
})();
