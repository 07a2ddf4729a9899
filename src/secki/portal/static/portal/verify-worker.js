/* "Verify the whole election" in a Web Worker (issue 14 item 6; spec §5.4, mirroring the
   totals check of `secki verify`): open the checkpoint (the log's signature, the witness
   quorum), download every entry bundle up to its size, check each entry against its level-0
   tile and all of them against the signed root, replay them (their validity, §5.3, and the
   totals rule: protocol.accepted and protocol.amended set a station's effective lines,
   protocol.annulled clears them) and compare the totals with results/<N>.json: the national
   lines, the stations counted and, with the register's files (checked against the SHA-256 the
   log gives them), every unit of the file's `units`.

   The page posts {site, election, tlog, fallback}; the worker answers with {type: "phase",
   code}, {type: "progress", done, total} and finally {type: "done", result}. */
"use strict";

var AHEAD = 6;  // bundles fetched ahead of the one being replayed

function problem(error) {
  var T = self.SeckiTlog;
  if (T && error instanceof T.VerifyError) return {code: error.code, params: error.params, detail: error.detail};
  return {code: "unexpected", params: {detail: String(error && error.message || error)}, detail: ""};
}

function fresh(path) {
  return /(^|\/)(checkpoint|log\.vkey|witnesses\.txt|latest\.json)$/.test(path);
}

function text(T, bytes, file) {
  var value = bytes === null ? null : T.decodeUtf8(bytes);
  if (value === null) throw new T.VerifyError("missing", {file: file});
  return value;
}

async function verifyElection(T, job) {
  var slug = job.election;
  var source = T.httpSource(job.site, fresh);
  var base = slug + "/";
  postMessage({type: "phase", code: "e_phase_checkpoint"});
  var got = await Promise.all([
    source("log.vkey"), source("witnesses.txt"), source(base + "checkpoint"), source(base + "results/latest.json"),
  ]);
  var logKey = await T.parseVkey(text(T, got[0], job.site + "log.vkey").trim());
  var policy = await T.parsePolicy(text(T, got[1], job.site + "witnesses.txt"));
  if (got[2] === null) throw new T.VerifyError("missing", {file: job.site + base + "checkpoint"});
  if (got[3] === null) throw new T.VerifyError("missing", {file: job.site + base + "results/latest.json"});
  var origin = logKey.name + "/" + slug;
  var now = Math.floor(Date.now() / 1000);
  var opened = await T.openCheckpoint(got[2], logKey, policy, origin, now);
  var latest = got[3];
  var doc = T.parseResults(latest, "results/latest.json");
  if (doc.treeSize > opened.checkpoint.size) {
    // published after the checkpoint was read: verify at its (cosigned) size
    opened = await T.openCheckpoint(T.utf8(doc.checkpoint), logKey, policy, origin, now);
  }
  var size = opened.checkpoint.size;
  var target = doc.treeSize;
  var reader = new T.TileReader(function (path) { return source(base + path); }, size, opened.checkpoint.root);
  var replay = new T.Replay();
  var atTarget = target === 0 ? replay.tally(slug) : null;
  var registers = [];
  var bundles = Math.ceil(size / T.TILE_WIDTH);

  function fetchAhead(n) {
    if (n < bundles) {
      reader.bundle(n).catch(function () {});
      reader.tile(0, n).catch(function () {});
    }
  }
  for (var k = 0; k < AHEAD; k++) fetchAhead(k);
  postMessage({type: "progress", done: 0, total: size});
  for (var n = 0; n < bundles; n++) {
    fetchAhead(n + AHEAD);
    var parts = await Promise.all([reader.bundle(n), reader.tile(0, n)]);
    var entries = parts[0].entries;
    var leaves = await Promise.all(entries.map(T.leafHash));
    for (var i = 0; i < entries.length; i++) {
      var index = n * T.TILE_WIDTH + i;
      if (!T.equal(leaves[i], parts[1][i])) {
        var claimed = {};
        try {
          var parsed = T.parseEntry(entries[i]);
          claimed = {kind: parsed.kind, station: parsed.fields.station};
        } catch (e) { /* not even an entry */ }
        if (claimed.station) {
          throw new T.VerifyError("entry_changed", {index: index, file: parts[0].path, kind: claimed.kind, station: claimed.station});
        }
        throw new T.VerifyError("entry_hash", {index: index, file: parts[0].path});
      }
      var entry = replay.add(entries[i], leaves[i]);
      if (entry.kind === "register.published" && entry.fields.election === slug) {
        registers.push({index: index, entry: entry});
      }
      if (replay.size === target) atTarget = replay.tally(slug);
    }
    postMessage({type: "progress", done: replay.size, total: size});
  }
  postMessage({type: "phase", code: "e_phase_root"});
  var root = await T.rootOf(replay.leafHashes);
  if (!T.equal(root, opened.checkpoint.root)) throw new T.VerifyError("root", {size: size});

  postMessage({type: "phase", code: "e_phase_results"});
  var problems = [];
  var name = "results/" + target + ".json";
  var file = await source(base + name);
  if (file === null) throw new T.VerifyError("missing", {file: job.site + base + name});
  if (!T.equal(file, latest)) throw new T.VerifyError("results_copy", {size: target});
  var inner = await T.openCheckpoint(T.utf8(doc.checkpoint), logKey, policy, origin, now);
  if (inner.checkpoint.size !== target || !T.equal(inner.checkpoint.root, doc.root)) {
    throw new T.VerifyError("results_checkpoint", {size: target});
  }
  var rootAtTarget = target === size ? root : await T.rootOf(replay.leafHashes.slice(0, target));
  if (!T.equal(rootAtTarget, doc.root)) throw new T.VerifyError("results_root", {size: target});
  problems = problems.concat(T.compareResults(doc, atTarget));

  postMessage({type: "phase", code: "e_phase_register"});
  var files = new Map();  // sha256 -> Promise<text | problem>
  function registerFile(sha, fileName, index) {
    if (!files.has(sha)) {
      files.set(sha, source(base + "register/" + sha).then(function (data) {
        if (data === null) return {code: "register_missing", params: {sha: sha, file: fileName, index: index}};
        return T.sha256(data).then(function (digest) {
          if (T.hex(digest) !== sha) return {code: "register_altered", params: {sha: sha, file: fileName, index: index}};
          return {text: T.decodeUtf8(data)};
        });
      }));
    }
    return files.get(sha);
  }
  var checks = [];
  registers.forEach(function (r) {
    Object.keys(r.entry.fields.files).sort().forEach(function (fileName) {
      checks.push(registerFile(r.entry.fields.files[fileName], fileName, r.index));
    });
  });
  (await Promise.all(checks)).forEach(function (found) {
    if (found.code && !problems.some(function (p) { return p.params.sha === found.params.sha; })) problems.push(found);
  });
  var units = doc.units === null ? 0 : Object.keys(doc.units).length;
  if (doc.units !== null) {
    var register = null;
    registers.forEach(function (r) { if (r.index < target) register = r; });
    var fileMap = register ? register.entry.fields.files : {};
    if (!fileMap["units.csv"] || !fileMap["stations.csv"]) {
      problems.push({code: "no_register", params: {size: target}});
    } else {
      var csv = await Promise.all([
        registerFile(fileMap["units.csv"], "units.csv", register.index),
        registerFile(fileMap["stations.csv"], "stations.csv", register.index),
      ]);
      if (csv[0].text !== undefined && csv[1].text !== undefined) {
        problems = problems.concat(T.compareUnits(doc, atTarget, T.unitsOfRegister(csv[0].text, csv[1].text)));
      }
    }
  }
  return {
    ok: problems.length === 0,
    size: size,
    results: target,
    log: logKey.name,
    witnesses: opened.cosignatures.map(function (c) { return c.name; }).join(", "),
    units: units,
    stations: atTarget.stationsCounted,
    lines: Object.keys(atTarget.totals).length,
    problems: problems,
  };
}

self.onmessage = function (event) {
  var job = event.data;
  try {
    importScripts(job.tlog);
  } catch (e) {
    postMessage({type: "done", result: {ok: false, problems: [{code: "e_worker", params: {}}]}});
    return;
  }
  var T = self.SeckiTlog;
  T.configure({fallback: job.fallback});
  verifyElection(T, job).then(function (result) {
    postMessage({type: "done", result: result});
  }, function (error) {
    postMessage({type: "done", result: {ok: false, problems: [problem(error)]}});
  });
};
