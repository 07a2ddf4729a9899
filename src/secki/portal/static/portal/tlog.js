/* The transparency log in the visitor's browser (spec/transparency.md; issue 14): the checks of
   secki.tlog and secki.verifier, written again for the page (verify.js) and the Web Worker
   (verify-worker.js) that load this file. Nothing here trusts the server: every file is
   checked against a checkpoint signed by the log key and cosigned by a quorum of witnesses.

   * bytes, base64, canonical JSON (§5.1);
   * SHA-256 and Ed25519: WebCrypto, or the vendored noble.js where the browser lacks them
     (configure({fallback: url}));
   * the Merkle tree (§1): leaf and node hashes, roots, inclusion paths and consistency proofs
     and their verification;
   * tiles and entry bundles (§2): paths, a reader that computes proofs from tiles (§2.6);
   * signed notes, verifier keys, the witness policy, opening a checkpoint (§3, §4);
   * entries, their validity and the totals rule (§5.2–5.4); results files; the register CSV.

   Failures are VerifyError(code, params): the pages turn the code into a translated sentence
   (their JSON message catalogue), the params fill it in. */
(function (root) {
  "use strict";

  var TILE_HEIGHT = 8;
  var TILE_WIDTH = 256;
  var HASH_SIZE = 32;
  var MAX_CLOCK_SKEW = 600;
  var MAX_SIGNATURES = 100;
  var KEY_ED25519 = 0x01;
  var KEY_COSIGNATURE = 0x04;
  var MAX_DEPTH = 32;

  function VerifyError(code, params, detail) {
    this.name = "VerifyError";
    this.code = code;
    this.params = params || {};
    this.detail = detail || "";
    this.message = code + (detail ? ": " + detail : "");
    this.stack = new Error(this.message).stack;
  }
  VerifyError.prototype = Object.create(Error.prototype);
  VerifyError.prototype.constructor = VerifyError;

  function fail(code, params, detail) {
    throw new VerifyError(code, params, detail);
  }

  // -- bytes ----------------------------------------------------------------------------------

  var encoder = new TextEncoder();
  var strictDecoder = new TextDecoder("utf-8", {fatal: true, ignoreBOM: true});

  function utf8(text) {
    return encoder.encode(text);
  }

  /** The text of UTF-8 bytes, or null when they are not UTF-8. */
  function decodeUtf8(bytes) {
    try {
      return strictDecoder.decode(bytes);
    } catch (e) {
      return null;
    }
  }

  function concat(parts) {
    var length = 0;
    var i;
    for (i = 0; i < parts.length; i++) length += parts[i].length;
    var out = new Uint8Array(length);
    var at = 0;
    for (i = 0; i < parts.length; i++) {
      out.set(parts[i], at);
      at += parts[i].length;
    }
    return out;
  }

  function equal(a, b) {
    if (a.length !== b.length) return false;
    for (var i = 0; i < a.length; i++) if (a[i] !== b[i]) return false;
    return true;
  }

  var HEX = "0123456789abcdef";

  function hex(bytes) {
    var out = "";
    for (var i = 0; i < bytes.length; i++) out += HEX[bytes[i] >> 4] + HEX[bytes[i] & 15];
    return out;
  }

  function fromHex(text) {
    var out = new Uint8Array(text.length / 2);
    for (var i = 0; i < out.length; i++) out[i] = parseInt(text.substr(i * 2, 2), 16);
    return out;
  }

  function b64encode(bytes) {
    var text = "";
    for (var i = 0; i < bytes.length; i++) text += String.fromCharCode(bytes[i]);
    return btoa(text);
  }

  /** Canonical base64 (RFC 4648 §4, padded) or null. */
  function b64decode(text) {
    if (text.length % 4 || !/^[A-Za-z0-9+/]*={0,2}$/.test(text)) return null;
    var binary;
    try {
      binary = atob(text);
    } catch (e) {
      return null;
    }
    var out = new Uint8Array(binary.length);
    for (var i = 0; i < binary.length; i++) out[i] = binary.charCodeAt(i);
    return b64encode(out) === text ? out : null;
  }

  function isInt(value) {
    return typeof value === "number" && Number.isSafeInteger(value);
  }

  function isCount(value) {
    return isInt(value) && value >= 0;
  }

  function codePoints(text) {
    return Array.from(text).length;
  }

  function isObject(value) {
    return value !== null && typeof value === "object" && !Array.isArray(value);
  }

  // -- SHA-256 and Ed25519 -------------------------------------------------------------------------

  var settings = {fallback: null, forceFallback: false};
  var noblePromise = null;
  var ed25519Promise = null;

  function configure(options) {
    for (var key in options) settings[key] = options[key];
    ed25519Promise = null;
  }

  function subtle() {
    if (settings.forceFallback) return null;
    var c = root.crypto;
    return c && c.subtle ? c.subtle : null;
  }

  /** The vendored noble.js (Ed25519 and SHA-256), loaded once when needed. */
  function loadNoble() {
    if (root.SeckiNoble) return Promise.resolve(root.SeckiNoble);
    if (!noblePromise) {
      noblePromise = new Promise(function (resolve, reject) {
        var url = settings.fallback;
        if (!url) {
          reject(new VerifyError("crypto"));
          return;
        }
        if (typeof root.importScripts === "function") {  // a worker
          try {
            root.importScripts(url);
          } catch (e) {
            reject(new VerifyError("crypto"));
            return;
          }
          if (root.SeckiNoble) resolve(root.SeckiNoble); else reject(new VerifyError("crypto"));
          return;
        }
        var script = document.createElement("script");
        script.src = url;
        script.onload = function () {
          if (root.SeckiNoble) resolve(root.SeckiNoble); else reject(new VerifyError("crypto"));
        };
        script.onerror = function () { reject(new VerifyError("crypto")); };
        document.head.appendChild(script);
      });
    }
    return noblePromise;
  }

  function sha256(bytes) {
    var s = subtle();
    if (s) {
      return s.digest("SHA-256", bytes).then(function (d) { return new Uint8Array(d); });
    }
    return loadNoble().then(function (noble) { return noble.sha256(bytes); });
  }

  // RFC 8032 §7.1 TEST 1: a browser's Ed25519 is used only if it verifies this signature
  var TEST_KEY = "d75a980182b10ab7d54bfed3c964073a0ee172f3daa62325af021a68f707511a";
  var TEST_SIGNATURE =
    "e5564300c360ac729086e2cc806e828a84877f1eb8e5d974d873e065224901555fb8821590a33bacc61e39701cf9b46bd25bf5f0595bbe24655141438e7a100b";

  function webCryptoEd25519(s) {
    var algorithm = {name: "Ed25519"};
    var keys = new Map();
    function verify(publicKey, signature, message) {
      var id = hex(publicKey);
      if (!keys.has(id)) keys.set(id, s.importKey("raw", publicKey, algorithm, false, ["verify"]));
      return keys.get(id)
        .then(function (key) { return s.verify(algorithm, key, signature, message); })
        .catch(function () { return false; });
    }
    return s.importKey("raw", fromHex(TEST_KEY), algorithm, false, ["verify"])
      .then(function (key) {
        return s.verify(algorithm, key, fromHex(TEST_SIGNATURE), new Uint8Array(0));
      })
      .then(function (ok) { return ok ? {name: "WebCrypto", verify: verify} : null; })
      .catch(function () { return null; });
  }

  function nobleEd25519() {
    return loadNoble().then(function (noble) {
      return {
        name: "noble",
        verify: function (publicKey, signature, message) {
          try {
            return Promise.resolve(noble.verify(signature, message, publicKey));
          } catch (e) {
            return Promise.resolve(false);
          }
        },
      };
    });
  }

  /** {name, verify(publicKey, signature, message) -> Promise<bool>}: WebCrypto's Ed25519 if
      the browser has it (and it passes RFC 8032's test), else noble.js. */
  function ed25519() {
    if (!ed25519Promise) {
      var s = subtle();
      ed25519Promise = (s ? webCryptoEd25519(s) : Promise.resolve(null)).then(function (found) {
        return found || nobleEd25519();
      });
    }
    return ed25519Promise;
  }

  /** The names of the implementations in use ({sha256, ed25519}), once ed25519() resolved. */
  function backends() {
    return ed25519().then(function (ed) {
      return {sha256: subtle() ? "WebCrypto" : "noble", ed25519: ed.name};
    });
  }

  // -- the Merkle tree (§1) -------------------------------------------------------------------

  var LEAF = new Uint8Array([0]);
  var NODE = new Uint8Array([1]);

  function leafHash(entry) {
    return sha256(concat([LEAF, entry]));
  }

  function nodeHash(left, right) {
    return sha256(concat([NODE, left, right]));
  }

  /** The largest power of two strictly below n (n >= 2). */
  function splitPoint(n) {
    var k = 1;
    while (k * 2 < n) k *= 2;
    return k;
  }

  function isPowerOfTwo(n) {
    return n > 0 && splitPoint(n + 1) === n;
  }

  /** MTH of a perfect subtree from its 2^h bottom hashes. */
  function perfectRoot(hashes) {
    var level = hashes;
    function step() {
      if (level.length === 1) return Promise.resolve(level[0]);
      var next = [];
      for (var i = 0; i < level.length; i += 2) next.push(nodeHash(level[i], level[i + 1]));
      return Promise.all(next).then(function (made) {
        level = made;
        return step();
      });
    }
    if (!hashes.length || !isPowerOfTwo(hashes.length)) {
      return Promise.reject(new Error(hashes.length + " hashes do not make a perfect subtree"));
    }
    return step();
  }

  var EMPTY_ROOT_HEX = "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855";

  function foldPeaks(peaks) {
    if (!peaks.length) return Promise.resolve(fromHex(EMPTY_ROOT_HEX));
    var i = peaks.length - 1;
    var acc = Promise.resolve(peaks[i]);
    while (i-- > 0) {
      (function (peak) {
        acc = acc.then(function (r) { return nodeHash(peak, r); });
      })(peaks[i]);
    }
    return acc;
  }

  /** MTH(D[0:n]) of n leaf hashes. */
  function rootOf(leafHashes) {
    var n = leafHashes.length;
    var peaks = [];
    var start = 0;
    for (var width = splitPoint(n + 1); width >= 1; width /= 2) {
      if (n - start >= width) {
        peaks.push(perfectRoot(leafHashes.slice(start, start + width)));
        start += width;
      }
    }
    return Promise.all(peaks).then(foldPeaks);
  }

  function half(n) {
    return Math.floor(n / 2);
  }

  /** PATH(index, D[0:size]) (§1.2) from subtree(a, b) -> Promise<MTH(D[a:b])>. */
  function inclusionPath(index, size, subtree) {
    var wanted = [];
    var a = 0;
    var b = size;
    while (b - a > 1) {
      var k = splitPoint(b - a);
      if (index < a + k) {
        wanted.push([a + k, b]);
        b = a + k;
      } else {
        wanted.push([a, a + k]);
        a += k;
      }
    }
    wanted.reverse();
    return Promise.all(wanted.map(function (r) { return subtree(r[0], r[1]); }));
  }

  /** PROOF(old, D[0:size]) (§1.4), 0 < old < size. */
  function consistencyProof(old, size, subtree) {
    var wanted = [];
    var m = old;
    var a = 0;
    var b = size;
    var known = true;
    while (m !== b - a) {
      var k = splitPoint(b - a);
      if (m <= k) {
        wanted.push([a + k, b]);
        b = a + k;
      } else {
        wanted.push([a, a + k]);
        a += k;
        m -= k;
        known = false;
      }
    }
    if (!known) wanted.push([a, b]);
    wanted.reverse();
    return Promise.all(wanted.map(function (r) { return subtree(r[0], r[1]); }));
  }

  /** §1.3: resolves when the path leads from the leaf hash to the root, else rejects with
      VerifyError("inclusion", {index, size}). */
  function verifyInclusion(index, size, leaf, path, rootHash) {
    function bad(detail) {
      return Promise.reject(new VerifyError("inclusion", {index: index, size: size}, detail));
    }
    if (index < 0 || size < 0) return bad("a negative index or size");
    if (index >= size) return bad("index " + index + " is not below the tree size " + size);
    if (leaf.length !== HASH_SIZE || rootHash.length !== HASH_SIZE) return bad("not 32 bytes");
    for (var i = 0; i < path.length; i++) if (path[i].length !== HASH_SIZE) return bad("not 32 bytes");
    var fn = index;
    var sn = size - 1;
    var r = Promise.resolve(leaf);
    for (i = 0; i < path.length; i++) {
      if (sn === 0) return bad("inclusion path too long");
      (function (p, left) {
        r = r.then(function (h) { return left ? nodeHash(p, h) : nodeHash(h, p); });
      })(path[i], fn % 2 === 1 || fn === sn);
      if (fn % 2 === 1 || fn === sn) {
        if (fn % 2 === 0) {
          while (fn && fn % 2 === 0) {
            fn = half(fn);
            sn = half(sn);
          }
        }
      }
      fn = half(fn);
      sn = half(sn);
    }
    if (sn !== 0) return bad("inclusion path too short");
    return r.then(function (got) {
      if (!equal(got, rootHash)) return bad("the path leads to root " + hex(got));
      return undefined;
    });
  }

  /** §1.5 (secki.tlog.merkle.verify_consistency, its edge cases included: size 0 proves
      nothing, equal sizes need an empty proof and equal roots): rejects with
      VerifyError("consistency", {old, size}) unless (size, newRoot) extends (old, oldRoot). */
  function verifyConsistency(old, size, oldRoot, newRoot, proof) {
    function bad(detail) {
      return Promise.reject(new VerifyError("consistency", {old: old, size: size}, detail));
    }
    if (old < 0 || size < 0) return bad("a negative size");
    if (old > size) return bad("the old size is larger than the new size");
    for (var i = 0; i < proof.length; i++) if (proof[i].length !== HASH_SIZE) return bad("not 32 bytes");
    if (old === 0) return bad("consistency from size 0 proves nothing");
    if (old === size) {
      if (proof.length) return bad("equal sizes need an empty proof");
      if (!equal(oldRoot, newRoot)) return bad("two different roots for one size");
      return Promise.resolve();
    }
    if (oldRoot.length !== HASH_SIZE || newRoot.length !== HASH_SIZE) return bad("not 32 bytes");
    if (!proof.length) return bad("empty proof");
    var hashes = proof.slice();
    if (isPowerOfTwo(old)) hashes.unshift(oldRoot);
    var fn = old - 1;
    var sn = size - 1;
    while (fn % 2 === 1) {
      fn = half(fn);
      sn = half(sn);
    }
    var fr = Promise.resolve(hashes[0]);
    var sr = Promise.resolve(hashes[0]);
    for (i = 1; i < hashes.length; i++) {
      if (sn === 0) return bad("proof too long");
      var c = hashes[i];
      if (fn % 2 === 1 || fn === sn) {
        (function (c) {
          fr = fr.then(function (h) { return nodeHash(c, h); });
          sr = sr.then(function (h) { return nodeHash(c, h); });
        })(c);
        if (fn % 2 === 0) {
          while (fn && fn % 2 === 0) {
            fn = half(fn);
            sn = half(sn);
          }
        }
      } else {
        (function (c) {
          sr = sr.then(function (h) { return nodeHash(h, c); });
        })(c);
      }
      fn = half(fn);
      sn = half(sn);
    }
    if (sn !== 0) return bad("proof too short");
    return Promise.all([fr, sr]).then(function (roots) {
      if (!equal(roots[0], oldRoot)) return bad("the proof gives another old root");
      if (!equal(roots[1], newRoot)) return bad("the proof gives another new root");
      return undefined;
    });
  }

  // -- tiles and bundles (§2) ---------------------------------------------------------------

  function indexPath(n) {
    var groups = [String(n % 1000).padStart(3, "0")];
    n = Math.floor(n / 1000);
    while (n) {
      groups.push("x" + String(n % 1000).padStart(3, "0"));
      n = Math.floor(n / 1000);
    }
    return groups.reverse().join("/");
  }

  function suffix(width) {
    return width === TILE_WIDTH ? "" : ".p/" + width;
  }

  function tilePath(level, n, width) {
    return "tile/" + level + "/" + indexPath(n) + suffix(width === undefined ? TILE_WIDTH : width);
  }

  function bundlePath(n, width) {
    return "tile/entries/" + indexPath(n) + suffix(width === undefined ? TILE_WIDTH : width);
  }

  /** {level, index, width} of tile `index` of `level` as a log of `size` serves it (§2.6). */
  function tileAt(level, index, size) {
    var count = Math.floor(size / Math.pow(TILE_WIDTH, level));
    var full = Math.floor(count / TILE_WIDTH);
    if (index < full) return {level: level, index: index, width: TILE_WIDTH};
    var width = count % TILE_WIDTH;
    if (index !== full || !width) fail("tile_range", {level: level, index: index, size: size});
    return {level: level, index: index, width: width};
  }

  /** The entries of a bundle: each behind its 2-byte big-endian length (§2.4). */
  function decodeBundle(data, path) {
    var entries = [];
    var at = 0;
    while (at < data.length) {
      if (at + 2 > data.length) fail("bundle", {file: path}, "ends inside a length");
      var length = (data[at] << 8) | data[at + 1];
      at += 2;
      if (at + length > data.length) fail("bundle", {file: path}, "an entry runs past the end");
      entries.push(data.subarray(at, at + length));
      at += length;
    }
    return entries;
  }

  function splitHashes(data, path, width) {
    if (data.length !== HASH_SIZE * width) {
      fail("tile", {file: path}, data.length + " bytes, not " + HASH_SIZE * width);
    }
    var out = [];
    for (var i = 0; i < data.length; i += HASH_SIZE) out.push(data.subarray(i, i + HASH_SIZE));
    return out;
  }

  /** A source of the files under a URL prefix: fetchFile(path) -> Promise<Uint8Array | null>
      (null for 404 and 410). `fresh` paths (the checkpoint, hints, results/latest.json) are
      revalidated with the server each time. */
  function httpSource(prefix, fresh) {
    return function (path) {
      var revalidate = fresh && fresh(path);
      return fetch(prefix + path, {cache: revalidate ? "no-cache" : "default"})
        .catch(function () { fail("fetch", {file: prefix + path, status: "network"}); })
        .then(function (response) {
          if (response.status === 404 || response.status === 410) return null;
          if (!response.ok) fail("fetch", {file: prefix + path, status: String(response.status)});
          return response.arrayBuffer().then(function (b) { return new Uint8Array(b); });
        });
    };
  }

  /** Reads a log of `size` entries and root `rootHash` (a verified checkpoint's) from
      fetchFile; tiles are cached, partial ones read from their full tile once pruned. */
  function TileReader(fetchFile, size, rootHash) {
    this.fetchFile = fetchFile;
    this.size = size;
    this.root = rootHash;
    this.tiles = new Map();
    this.subtrees = new Map();
    this.bundles = new Map();
  }

  TileReader.prototype.fetchEither = function (path, fullPath) {
    var self = this;
    return self.fetchFile(path).then(function (data) {
      if (data !== null) return {data: data, path: path};
      if (path === fullPath) fail("missing", {file: path});
      return self.fetchFile(fullPath).then(function (full) {
        if (full === null) fail("missing", {file: path});
        return {data: full, path: fullPath};
      });
    });
  };

  /** The hashes of tile `index` of `level` at this size. */
  TileReader.prototype.tile = function (level, index) {
    var t = tileAt(level, index, this.size);
    var key = level + "/" + index;
    if (!this.tiles.has(key)) {
      var partial = tilePath(level, index, t.width);
      this.tiles.set(key, this.fetchEither(partial, tilePath(level, index)).then(function (got) {
        if (got.path === partial) return splitHashes(got.data, got.path, t.width);
        return splitHashes(got.data, got.path, TILE_WIDTH).slice(0, t.width);
      }));
    }
    return this.tiles.get(key);
  };

  /** MTH(D[a:b]) from tiles (§2.6). */
  TileReader.prototype.subtree = function (a, b) {
    var key = a + ":" + b;
    if (!this.subtrees.has(key)) {
      var length = b - a;
      var made;
      if (isPowerOfTwo(length)) {
        var height = Math.round(Math.log2(length));
        made = this.perfect(height, a / length);
      } else {
        var k = splitPoint(length);
        made = Promise.all([this.subtree(a, a + k), this.subtree(a + k, b)]).then(function (h) {
          return nodeHash(h[0], h[1]);
        });
      }
      this.subtrees.set(key, made);
    }
    return this.subtrees.get(key);
  };

  TileReader.prototype.perfect = function (height, j) {
    var level = Math.floor(height / TILE_HEIGHT);
    var r = height % TILE_HEIGHT;
    var first = j * Math.pow(2, r);
    var offset = first % TILE_WIDTH;
    var size = this.size;
    return this.tile(level, Math.floor(first / TILE_WIDTH)).then(function (hashes) {
      if (offset + Math.pow(2, r) > hashes.length) {
        fail("tile_range", {level: level, index: Math.floor(first / TILE_WIDTH), size: size});
      }
      return perfectRoot(hashes.slice(offset, offset + Math.pow(2, r)));
    });
  };

  TileReader.prototype.inclusionPath = function (index) {
    return inclusionPath(index, this.size, this.subtree.bind(this));
  };

  TileReader.prototype.consistencyProof = function (old) {
    return consistencyProof(old, this.size, this.subtree.bind(this));
  };

  /** {entries, path} of bundle n: the entries as published, not yet checked. */
  TileReader.prototype.bundle = function (n) {
    if (!this.bundles.has(n)) {
      var t = tileAt(0, n, this.size);
      var partial = bundlePath(n, t.width);
      this.bundles.set(n, this.fetchEither(partial, bundlePath(n)).then(function (got) {
        var entries = decodeBundle(got.data, got.path);
        if (got.path !== partial) {
          if (entries.length !== TILE_WIDTH) fail("bundle", {file: got.path}, entries.length + " entries");
          entries = entries.slice(0, t.width);
        }
        if (entries.length !== t.width) fail("bundle", {file: partial}, entries.length + " entries, " + t.width + " hashes");
        return {entries: entries, path: partial};
      }));
    }
    return this.bundles.get(n);
  };

  /** {data, leaf} of entry `index`, checked against its level-0 tile (§2.4). */
  TileReader.prototype.entry = function (index) {
    var self = this;
    var n = Math.floor(index / TILE_WIDTH);
    var i = index % TILE_WIDTH;
    return Promise.all([self.bundle(n), self.tile(0, n)]).then(function (got) {
      var data = got[0].entries[i];
      return leafHash(data).then(function (leaf) {
        if (!equal(leaf, got[1][i])) fail("entry_hash", {index: index, file: got[0].path});
        return {data: data, leaf: leaf};
      });
    });
  };

  /** Entry `index` with its inclusion in the checkpoint's root proven from tiles (§5.5). */
  TileReader.prototype.verifiedEntry = function (index) {
    var self = this;
    return Promise.all([self.entry(index), self.inclusionPath(index)]).then(function (got) {
      return verifyInclusion(index, self.size, got[0].leaf, got[1], self.root).then(function () {
        return got[0];
      });
    });
  };

  // -- signed notes, keys, the witness policy, checkpoints (§3, §4) ----------------------------

  var NAME_RE = /^[^\s+\p{C}\p{Z}]+$/u;

  function checkKeyName(name) {
    return NAME_RE.test(name);
  }

  function keyId(name, type, publicKey) {
    return sha256(concat([utf8(name + "\n"), new Uint8Array([type]), publicKey])).then(function (d) {
      return d.subarray(0, 4);
    });
  }

  /** A verifier key `<name>+<key id>+<base64(type || key)>` (§3.3), its key ID recomputed. */
  function parseVkey(text, code) {
    code = code || "key";
    var first = text.indexOf("+");
    var second = first < 0 ? -1 : text.indexOf("+", first + 1);
    if (second < 0) return Promise.reject(new VerifyError(code, {}, "not name+keyid+key"));
    var name = text.slice(0, first);
    var hexId = text.slice(first + 1, second);
    var raw = b64decode(text.slice(second + 1));
    if (!checkKeyName(name) || raw === null || raw.length !== 33) {
      return Promise.reject(new VerifyError(code, {}, "malformed key " + JSON.stringify(text)));
    }
    var type = raw[0];
    if (type !== KEY_ED25519 && type !== KEY_COSIGNATURE) {
      return Promise.reject(new VerifyError(code, {}, "key type " + type));
    }
    var publicKey = raw.subarray(1);
    return keyId(name, type, publicKey).then(function (id) {
      if (hex(id) !== hexId) fail(code, {}, "key ID " + hexId + " does not match the key");
      return {name: name, type: type, publicKey: publicKey, id: id, text: text};
    });
  }

  /** The witness policy text (secki.tlog.checkpoint.WitnessPolicy). */
  function parsePolicy(text) {
    var quorum = null;
    var pending = [];
    var lines = text.split(/\r\n|\r|\n/);
    for (var number = 0; number < lines.length; number++) {
      var words = lines[number].split("#", 1)[0].trim().split(/\s+/).filter(Boolean);
      if (!words.length) continue;
      if (words[0] === "witness" && (words.length === 2 || words.length === 3)) {
        pending.push(parseVkey(words[1], "policy"));
      } else if (words[0] === "quorum" && words.length === 2 && /^[0-9]+$/.test(words[1])) {
        if (quorum !== null) return Promise.reject(new VerifyError("policy", {}, "a second quorum line"));
        quorum = parseInt(words[1], 10);
      } else {
        return Promise.reject(new VerifyError("policy", {}, "line " + (number + 1)));
      }
    }
    if (quorum === null) return Promise.reject(new VerifyError("policy", {}, "no quorum line"));
    return Promise.all(pending).then(function (keys) {
      var names = new Set();
      var publicKeys = new Set();
      keys.forEach(function (k) {
        if (k.type !== KEY_COSIGNATURE) fail("policy", {}, k.name + " is not a cosignature key");
        if (names.has(k.name) || publicKeys.has(hex(k.publicKey))) fail("policy", {}, "a witness twice");
        names.add(k.name);
        publicKeys.add(hex(k.publicKey));
      });
      if (quorum > keys.length) fail("policy", {}, "quorum over the witnesses named");
      return {witnesses: keys, quorum: quorum, text: text};
    });
  }

  function hasControl(text) {
    for (var i = 0; i < text.length; i++) {
      var c = text.charCodeAt(i);
      if ((c < 0x20 && c !== 0x0a) || (c >= 0x7f && c <= 0x9f)) return true;
    }
    return false;
  }

  /** §3.4 steps 1–2: {text, signatures: [{name, id, payload}]}. */
  function splitNote(bytes) {
    var note = decodeUtf8(bytes);
    if (note === null) fail("note", {}, "not UTF-8");
    if (hasControl(note)) fail("note", {}, "a control character");
    if (note.slice(-1) !== "\n") fail("note", {}, "no final newline");
    var cut = note.lastIndexOf("\n\n");
    if (cut < 0) fail("note", {}, "no blank line before the signatures");
    var text = note.slice(0, cut + 1);
    var block = note.slice(cut + 2);
    var lines = block ? block.slice(0, -1).split("\n") : [];
    if (!lines.length) fail("note", {}, "no signature lines");
    if (lines.length > MAX_SIGNATURES) fail("note", {}, "over " + MAX_SIGNATURES + " signatures");
    var signatures = lines.map(function (line) {
      if (line.indexOf("\u2014 ") !== 0) fail("note", {}, "a signature line without an em dash");
      var rest = line.slice(2);
      var space = rest.indexOf(" ");
      if (space < 0) fail("note", {}, "a signature line without a signature");
      var name = rest.slice(0, space);
      var raw = b64decode(rest.slice(space + 1));
      if (!checkKeyName(name) || raw === null || raw.length < 5) fail("note", {}, "a malformed signature line");
      return {name: name, id: raw.subarray(0, 4), payload: raw.subarray(4)};
    });
    return {text: text, signatures: signatures};
  }

  /** §3.1: {origin, size, root, text}. */
  function parseCheckpoint(text) {
    if (text.slice(-1) !== "\n") fail("checkpoint", {}, "no final newline");
    var lines = text.slice(0, -1).split("\n");
    if (lines.length < 3 || lines.some(function (l) { return !l; })) fail("checkpoint", {}, "lines");
    if (!/^(0|[1-9][0-9]*)$/.test(lines[1])) fail("checkpoint", {}, "size");
    var size = Number(lines[1]);
    if (!Number.isSafeInteger(size)) fail("checkpoint", {}, "a size beyond 2^53");
    var rootHash = b64decode(lines[2]);
    if (rootHash === null || rootHash.length !== HASH_SIZE) fail("checkpoint", {}, "root");
    var origin = lines[0];
    if (/[\s+]/u.test(origin)) fail("checkpoint", {}, "origin");
    return {origin: origin, size: size, root: rootHash, text: text};
  }

  function cosignatureMessage(text, timestamp) {
    return utf8("cosignature/v1\ntime " + timestamp + "\n" + text);
  }

  /** Open a cosigned checkpoint (§3.4, §4.4) at POSIX time `now` with the log key and the
      witness policy: {checkpoint, cosignatures: [{name, timestamp}], note}. Every signature
      line of a trusted key must verify; the log's must be there; a quorum of distinct policy
      witnesses; no cosignature more than 10 minutes ahead; the expected origin. */
  function openCheckpoint(bytes, logKey, policy, origin, now) {
    var note;
    try {
      note = splitNote(bytes);
    } catch (e) {
      return Promise.reject(e);
    }
    var trusted = new Map();
    [logKey].concat(policy.witnesses).forEach(function (k) {
      trusted.set(k.name + " " + hex(k.id), k);
    });
    var text = utf8(note.text);
    var checks = [];
    note.signatures.forEach(function (line) {
      var key = trusted.get(line.name + " " + hex(line.id));
      if (!key) return;
      checks.push(ed25519().then(function (ed) {
        if (key.type === KEY_ED25519) {
          if (line.payload.length !== 64) fail("signature", {log: key.name});
          return ed.verify(key.publicKey, line.payload, text).then(function (ok) {
            if (!ok) fail("signature", {log: key.name});
            return {key: key, timestamp: null};
          });
        }
        if (line.payload.length !== 72) fail("cosignature", {witness: key.name}, "not 76 bytes");
        var view = new DataView(line.payload.buffer, line.payload.byteOffset, 8);
        var timestamp = view.getBigUint64(0);
        if (timestamp > BigInt("9223372036854775807")) fail("cosignature", {witness: key.name}, "timestamp");
        var message = cosignatureMessage(note.text, timestamp.toString());
        return ed.verify(key.publicKey, line.payload.subarray(8), message).then(function (ok) {
          if (!ok) fail("cosignature", {witness: key.name});
          return {key: key, timestamp: Number(timestamp)};
        });
      }));
    });
    return Promise.all(checks).then(function (verified) {
      if (!verified.some(function (v) { return v.key === logKey; })) {
        fail("unsigned", {log: logKey.name});
      }
      var cosignatures = verified.filter(function (v) { return v.timestamp !== null; });
      cosignatures.forEach(function (c) {
        if (c.timestamp > now + MAX_CLOCK_SKEW) fail("future", {witness: c.key.name});
      });
      var distinct = new Set(cosignatures.map(function (c) { return c.key.name; }));
      if (distinct.size < policy.quorum) fail("quorum", {count: distinct.size, quorum: policy.quorum});
      var checkpoint = parseCheckpoint(note.text);
      if (checkpoint.origin !== origin) fail("origin", {origin: checkpoint.origin, expected: origin});
      return {
        checkpoint: checkpoint,
        note: decodeUtf8(bytes),
        cosignatures: cosignatures.map(function (c) { return {name: c.key.name, timestamp: c.timestamp}; }),
      };
    });
  }

  // -- canonical JSON (§5.1) -------------------------------------------------------------------

  var LONE_SURROGATE = /[\uD800-\uDBFF](?![\uDC00-\uDFFF])|(?:^|[^\uD800-\uDBFF])[\uDC00-\uDFFF]/;

  function checkValue(value, depth) {
    if (depth > MAX_DEPTH) return "nested too deeply";
    if (value === null || typeof value === "boolean") return null;
    if (typeof value === "number") return Number.isSafeInteger(value) ? null : "a number that is not a safe integer";
    if (typeof value === "string") {
      if (LONE_SURROGATE.test(value)) return "a lone surrogate";
      if (value.normalize("NFC") !== value) return "a string not in NFC";
      return null;
    }
    var problem;
    if (Array.isArray(value)) {
      for (var i = 0; i < value.length; i++) if ((problem = checkValue(value[i], depth + 1))) return problem;
      return null;
    }
    for (var key in value) {
      if (!/^[\x00-\x7f]*$/.test(key)) return "a key that is not ASCII";
      if ((problem = checkValue(value[key], depth + 1))) return problem;
    }
    return null;
  }

  function encodeValue(value) {
    if (Array.isArray(value)) return "[" + value.map(encodeValue).join(",") + "]";
    if (isObject(value)) {
      return "{" + Object.keys(value).sort().map(function (k) {
        return JSON.stringify(k) + ":" + encodeValue(value[k]);
      }).join(",") + "}";
    }
    return JSON.stringify(value);
  }

  /** The canonical text of an object, or throws Error naming what is outside the subset. */
  function encodeCanonical(value) {
    if (!isObject(value)) throw new Error("not an object");
    var problem = checkValue(value, 0);
    if (problem) throw new Error(problem);
    return encodeValue(value);
  }

  /** The object of canonical JSON bytes, or throws Error (§5.1: re-encoded, it must give the
      same bytes: no whitespace, sorted keys, no duplicate keys, integers only, NFC). */
  function decodeCanonical(bytes) {
    var text = decodeUtf8(bytes);
    if (text === null) throw new Error("not UTF-8");
    var value;
    try {
      value = JSON.parse(text);
    } catch (e) {
      throw new Error("not JSON");
    }
    if (encodeCanonical(value) !== text) throw new Error("not in canonical form");
    return value;
  }

  // -- entries: fields, validity, the totals rule (§5.2–5.4) ----------------------------------

  var HEX64 = /^[0-9a-f]{64}$/;
  var TIME = /^(\d{4})-(\d{2})-(\d{2})T(\d{2}):(\d{2}):(\d{2})Z$/;
  var PRINTABLE = /^(?:[^\p{C}\p{Z}]| )*$/u;

  function identifier(v) {
    if (typeof v !== "string" || !v || codePoints(v) > 100) return "a non-empty string of at most 100 characters";
    if (!PRINTABLE.test(v) || v !== v.trim()) return "printable, without surrounding spaces";
    return null;
  }
  function text2000(v) {
    return typeof v === "string" && codePoints(v) <= 2000 ? null : "a string of at most 2000 characters";
  }
  function count(v) { return isCount(v) ? null : "an integer >= 0"; }
  function positive(v) { return isInt(v) && v >= 1 ? null : "an integer >= 1"; }
  function digest(v) { return typeof v === "string" && HEX64.test(v) ? null : "64 lowercase hex digits"; }
  function time(v) {
    var m = typeof v === "string" ? TIME.exec(v) : null;
    if (m) {
      var y = +m[1], mo = +m[2], d = +m[3];
      var date = new Date(Date.UTC(y, mo - 1, d));
      if (y >= 1 && date.getUTCFullYear() === y && date.getUTCMonth() === mo - 1 &&
          date.getUTCDate() === d && +m[4] <= 23 && +m[5] <= 59 && +m[6] <= 61) return null;
    }
    return "a time YYYY-MM-DDThh:mm:ssZ";
  }
  function hhmm(v) {
    return typeof v === "string" && /^([01][0-9]|2[0-3]):[0-5][0-9]$/.test(v) ? null : "a time HH:MM";
  }
  function contentType(v) {
    return typeof v === "string" && v.length <= 100 &&
      /^[a-z0-9][a-z0-9.+-]*\/[a-z0-9][a-z0-9.+-]*$/.test(v) ? null : "a media type";
  }
  function lines(v) {
    if (!isObject(v) || !Object.keys(v).length) return "a non-empty object of line codes";
    for (var code in v) {
      if (identifier(code)) return "line code " + JSON.stringify(code) + " is not printable";
      if (!isCount(v[code])) return "line " + code + " is not an integer >= 0";
    }
    return null;
  }
  function files(v) {
    if (!isObject(v) || !Object.keys(v).length) return "a non-empty object of file names";
    for (var name in v) {
      if (!/^[A-Za-z0-9][A-Za-z0-9._-]{0,99}$/.test(name)) return "file name " + JSON.stringify(name);
      if (digest(v[name])) return "the hash of " + name;
    }
    return null;
  }
  function prev(v) {
    if (!isObject(v) || Object.keys(v).sort().join(",") !== "index,leaf_hash") return "an object {index, leaf_hash}";
    return isCount(v.index) && !digest(v.leaf_hash) ? null : "an index >= 0 and a leaf_hash";
  }
  function isNull(v) { return v === null ? null : "null"; }
  function prevOrNull(v) { return v === null ? null : prev(v); }

  var COMMON = {election: identifier, station: identifier};
  function fields(base, more) {
    var out = {};
    var k;
    for (k in base) out[k] = base[k];
    for (k in more) out[k] = more[k];
    return out;
  }

  var SCHEMAS = {
    "protocol.accepted": [
      fields(COMMON, {version: positive, lines: lines, prev: isNull, accepted_at: time}),
      {scan_sha256: digest},
    ],
    "protocol.amended": [
      fields(COMMON, {version: positive, lines: lines, prev: prev, accepted_at: time}),
      {scan_sha256: digest, reason: text2000},
    ],
    "protocol.annulled": [
      fields(COMMON, {version: positive, prev: prev, accepted_at: time, reason: text2000}),
      {decision: text2000},
    ],
    "turnout.reported": [
      fields(COMMON, {time: hhmm, voters: count, version: positive, prev: prevOrNull, reported_at: time}),
      {reason: text2000},
    ],
    "scan.uploaded": [
      fields(COMMON, {version: positive, scan_sha256: digest, size: count, content_type: contentType, uploaded_at: time}),
      {},
    ],
    "election.published": [{election: identifier, settings_sha256: digest, published_at: time}, {}],
    "election.closed": [{election: identifier, closed_at: time}, {reason: text2000}],
    "register.published": [{election: identifier, version: positive, files: files, published_at: time}, {}],
    "chain.anchor": [{seq: count, head: digest, anchored_at: time}, {}],
  };

  function EntryError(rule, detail) {
    this.rule = rule;
    this.detail = detail;
  }

  /** {kind, fields} of entry bytes (§5.1, §5.2); throws EntryError. */
  function parseEntry(data) {
    var value;
    try {
      value = decodeCanonical(data);
    } catch (e) {
      throw new EntryError("canonical", e.message);
    }
    var kind = value.kind;
    if (typeof kind !== "string" || !kind) throw new EntryError("canonical", "no kind");
    delete value.kind;
    var schema = SCHEMAS[kind];
    if (schema) {
      var required = schema[0];
      var optional = schema[1];
      var name;
      for (name in required) if (!(name in value)) throw new EntryError("fields", kind + " lacks " + name);
      for (name in value) {
        var check = required[name] || optional[name];
        if (!check) throw new EntryError("fields", kind + " has no field " + name);
        var problem = check(value[name]);
        if (problem) throw new EntryError("fields", kind + ": " + name + " must be " + problem);
      }
    }
    return {kind: kind, fields: value};
  }

  /** The log's state after its entries, fed in index order with their leaf hashes
      (secki.tlog.entries.Replay): add() throws VerifyError("invalid", {index, rule}). */
  function Replay() {
    this.leafHashes = [];
    this.protocols = new Map();  // election \0 station -> {index, leaf, version, entry}
    this.turnout = new Map();    // election \0 station \0 time -> current
    this.open = new Map();
    this.registers = new Map();
  }

  Object.defineProperty(Replay.prototype, "size", {
    get: function () { return this.leafHashes.length; },
  });

  Replay.prototype.add = function (data, leaf) {
    var index = this.size;
    var entry;
    var apply;
    try {
      entry = parseEntry(data);
      apply = this.check(index, entry);
    } catch (e) {
      if (e instanceof EntryError) fail("invalid", {index: index, rule: e.rule}, e.detail);
      throw e;
    }
    apply(leaf);
    this.leafHashes.push(leaf);
    return entry;
  };

  Replay.prototype.check = function (index, entry) {
    var kind = entry.kind;
    if (kind === "protocol.accepted" || kind === "protocol.amended" || kind === "protocol.annulled") {
      return this.checkProtocol(index, entry);
    }
    if (kind === "turnout.reported") return this.checkTurnout(index, entry);
    if (kind === "election.published" || kind === "election.closed") return this.checkElection(entry);
    if (kind === "register.published") return this.checkRegister(entry);
    if (kind === "chain.anchor" && index !== 0) throw new EntryError("anchor", "chain.anchor is only allowed as entry 0");
    return function () {};
  };

  Replay.prototype.checkPrev = function (index, entry, current, what) {
    var p = entry.fields.prev;
    if (!p) throw new EntryError("prev", entry.kind + " supersedes " + what + " but has no prev");
    if (p.index >= index) throw new EntryError("prev", "prev.index " + p.index + " is not below " + index);
    if (p.leaf_hash !== hex(this.leafHashes[p.index])) {
      throw new EntryError("prev", "prev.leaf_hash is not the leaf hash of entry " + p.index);
    }
    if (p.index !== current.index) {
      throw new EntryError("prev", "prev names entry " + p.index + ", but " + what + " is entry " + current.index);
    }
  };

  Replay.prototype.checkProtocol = function (index, entry) {
    var f = entry.fields;
    var key = f.election + "\0" + f.station;
    var current = this.protocols.get(key);
    var where = "station " + f.station + " of " + f.election;
    var protocols = this.protocols;
    if (entry.kind === "protocol.accepted") {
      if (current) throw new EntryError("already-accepted", where + " already has an effective protocol (entry " + current.index + ")");
      if (f.version !== 1) throw new EntryError("version", "an accepted protocol has version 1, not " + f.version);
    } else {
      if (!current) throw new EntryError("nothing-effective", entry.kind + " but " + where + " has no effective protocol");
      this.checkPrev(index, entry, current, where + "'s effective protocol");
      if (f.version !== current.version + 1) {
        throw new EntryError("version", "version " + f.version + " follows version " + current.version + " of " + where);
      }
    }
    return function (leaf) {
      if (entry.kind === "protocol.annulled") protocols.delete(key);
      else protocols.set(key, {index: index, leaf: leaf, version: f.version, entry: entry});
    };
  };

  Replay.prototype.checkTurnout = function (index, entry) {
    var f = entry.fields;
    var key = f.election + "\0" + f.station + "\0" + f.time;
    var current = this.turnout.get(key);
    var where = "the " + f.time + " report of station " + f.station + " of " + f.election;
    var turnout = this.turnout;
    if (!current) {
      if (f.prev !== null || f.version !== 1) {
        throw new EntryError(f.prev !== null ? "prev" : "version", where + " is the first: version 1 without prev");
      }
    } else {
      this.checkPrev(index, entry, current, where);
      if (f.version !== current.version + 1) {
        throw new EntryError("version", "version " + f.version + " follows version " + current.version + " of " + where);
      }
    }
    return function (leaf) {
      turnout.set(key, {index: index, leaf: leaf, version: f.version, entry: entry});
    };
  };

  Replay.prototype.checkElection = function (entry) {
    var election = entry.fields.election;
    var isOpen = this.open.get(election) || false;
    if (entry.kind === "election.published" && isOpen) throw new EntryError("election-state", "election " + election + " is already open");
    if (entry.kind === "election.closed" && !isOpen) throw new EntryError("election-state", "election " + election + " is not open");
    var open = this.open;
    return function () { open.set(election, entry.kind === "election.published"); };
  };

  Replay.prototype.checkRegister = function (entry) {
    var election = entry.fields.election;
    var last = this.registers.get(election) || 0;
    if (entry.fields.version !== last + 1) {
      throw new EntryError("version", "register version " + entry.fields.version + " of " + election + " follows version " + last);
    }
    var registers = this.registers;
    return function () { registers.set(election, entry.fields.version); };
  };

  function sumLines(list) {
    var totals = {};
    list.forEach(function (l) {
      for (var code in l) totals[code] = (totals[code] || 0) + l[code];
    });
    return totals;
  }

  /** §5.4 for `election` at the current size: {election, treeSize, stations (code -> lines),
      totals, stationsCounted}. */
  Replay.prototype.tally = function (election) {
    var stations = {};
    var list = [];
    this.protocols.forEach(function (current, key) {
      var parts = key.split("\0");
      if (parts[0] === election) {
        stations[parts[1]] = current.entry.fields.lines;
        list.push(current.entry.fields.lines);
      }
    });
    return {
      election: election,
      treeSize: this.size,
      stations: stations,
      totals: sumLines(list),
      stationsCounted: list.length,
    };
  };

  // -- results/<N>.json (§5.4) ----------------------------------------------------------------

  var RESULTS_FIELDS = ["checkpoint", "election", "root_hash", "stations_counted", "totals", "tree_size"];

  function lineTotals(value) {
    if (!isObject(value)) return false;
    for (var code in value) if (!isCount(value[code])) return false;
    return true;
  }

  /** A results file (secki.tlog.results.parse_results); throws VerifyError("results"). */
  function parseResults(data, file) {
    var value;
    try {
      value = decodeCanonical(data);
    } catch (e) {
      fail("results", {file: file}, e.message);
    }
    var keys = Object.keys(value);
    var allowed = RESULTS_FIELDS.concat(["units"]);
    if (!RESULTS_FIELDS.every(function (k) { return k in value; }) ||
        !keys.every(function (k) { return allowed.indexOf(k) >= 0; })) {
      fail("results", {file: file}, "fields " + keys.join(", "));
    }
    var rootHash = typeof value.root_hash === "string" ? b64decode(value.root_hash) : null;
    if (typeof value.election !== "string" || typeof value.checkpoint !== "string" ||
        rootHash === null || rootHash.length !== HASH_SIZE || !isCount(value.tree_size) ||
        !isCount(value.stations_counted) || !lineTotals(value.totals)) {
      fail("results", {file: file}, "a malformed field");
    }
    var units = null;
    if ("units" in value) {
      if (!isObject(value.units)) fail("results", {file: file}, "units");
      for (var code in value.units) if (!lineTotals(value.units[code])) fail("results", {file: file}, "units");
      units = value.units;
    }
    return {
      election: value.election,
      treeSize: value.tree_size,
      root: rootHash,
      totals: value.totals,
      stationsCounted: value.stations_counted,
      checkpoint: value.checkpoint,
      units: units,
    };
  }

  function show(value) {
    return value === undefined || value === null ? null : value;
  }

  /** Every difference between a results file and the recomputed tally (compare_results). */
  function compareResults(doc, tally) {
    var problems = [];
    if (doc.election !== tally.election) {
      problems.push({code: "r_election", params: {published: doc.election, log: tally.election}});
    }
    if (doc.stationsCounted !== tally.stationsCounted) {
      problems.push({code: "r_stations", params: {published: doc.stationsCounted, log: tally.stationsCounted}});
    }
    var codes = Object.keys(doc.totals).concat(Object.keys(tally.totals));
    Array.from(new Set(codes)).sort().forEach(function (code) {
      var published = show(doc.totals[code]);
      var logged = show(tally.totals[code]);
      if (published !== logged) problems.push({code: "r_line", params: {line: code, published: published, log: logged}});
    });
    return problems;
  }

  /** Every difference between the file's units and the log's totals per unit
      (compare_units); unitsOf: station -> [its unit and every unit above it]. */
  function compareUnits(doc, tally, unitsOf) {
    if (doc.units === null) return [];
    var members = {};
    var problems = [];
    Object.keys(tally.stations).sort().forEach(function (station) {
      var units = unitsOf.get(station);
      if (!units) {
        problems.push({code: "r_unregistered", params: {station: station}});
        return;
      }
      units.forEach(function (u) { (members[u] = members[u] || []).push(tally.stations[station]); });
    });
    if (problems.length) return problems;
    var recomputed = {};
    for (var u in members) recomputed[u] = sumLines(members[u]);
    Object.keys(recomputed).sort().forEach(function (code) {
      if (!(code in doc.units)) problems.push({code: "r_unit_missing", params: {unit: code}});
    });
    Object.keys(doc.units).sort().forEach(function (code) {
      var published = doc.units[code];
      var logged = recomputed[code] || {};
      Array.from(new Set(Object.keys(published).concat(Object.keys(logged)))).sort().forEach(function (line) {
        if (show(published[line]) !== show(logged[line])) {
          problems.push({code: "r_unit_line", params: {unit: code, line: line, published: show(published[line]), log: show(logged[line])}});
        }
      });
    });
    return problems;
  }

  // -- the register's CSV files (docs/formats.md) ----------------------------------------------

  /** Rows of an RFC 4180 CSV text (comma, double quotes, \n or \r\n). */
  function parseCsv(text) {
    var rows = [];
    var row = [];
    var field = "";
    var quoted = false;
    var i = 0;
    while (i < text.length) {
      var c = text[i];
      if (quoted) {
        if (c === '"') {
          if (text[i + 1] === '"') {
            field += '"';
            i += 2;
            continue;
          }
          quoted = false;
        } else {
          field += c;
        }
        i++;
        continue;
      }
      if (c === '"') quoted = true;
      else if (c === ",") {
        row.push(field);
        field = "";
      } else if (c === "\n" || c === "\r") {
        if (c === "\r" && text[i + 1] === "\n") i++;
        row.push(field);
        rows.push(row);
        row = [];
        field = "";
      } else field += c;
      i++;
    }
    if (field || row.length) {
      row.push(field);
      rows.push(row);
    }
    return rows;
  }

  function table(text) {
    var rows = parseCsv(text);
    var header = rows.shift() || [];
    return rows.map(function (r) {
      var out = {};
      header.forEach(function (name, i) { out[name] = r[i]; });
      return out;
    });
  }

  /** station code -> [its unit, …, the root unit], from units.csv and stations.csv. */
  function unitsOfRegister(unitsCsv, stationsCsv) {
    var parent = new Map();
    table(unitsCsv).forEach(function (u) { parent.set(u.code, u.parent || null); });
    var out = new Map();
    table(stationsCsv).forEach(function (s) {
      var chain = [];
      var unit = s.unit;
      var seen = new Set();
      while (unit && !seen.has(unit)) {
        seen.add(unit);
        chain.push(unit);
        unit = parent.get(unit) || null;
      }
      out.set(s.code, chain);
    });
    return out;
  }

  root.SeckiTlog = {
    TILE_WIDTH: TILE_WIDTH,
    VerifyError: VerifyError,
    configure: configure,
    backends: backends,
    ed25519: ed25519,
    sha256: sha256,
    leafHash: leafHash,
    nodeHash: nodeHash,
    rootOf: rootOf,
    verifyInclusion: verifyInclusion,
    verifyConsistency: verifyConsistency,
    tilePath: tilePath,
    bundlePath: bundlePath,
    tileAt: tileAt,
    decodeBundle: decodeBundle,
    httpSource: httpSource,
    TileReader: TileReader,
    parseVkey: parseVkey,
    parsePolicy: parsePolicy,
    splitNote: splitNote,
    parseCheckpoint: parseCheckpoint,
    openCheckpoint: openCheckpoint,
    encodeCanonical: encodeCanonical,
    decodeCanonical: decodeCanonical,
    parseEntry: parseEntry,
    EntryError: EntryError,
    Replay: Replay,
    parseResults: parseResults,
    compareResults: compareResults,
    compareUnits: compareUnits,
    unitsOfRegister: unitsOfRegister,
    parseCsv: parseCsv,
    decodeUtf8: decodeUtf8,
    utf8: utf8,
    hex: hex,
    fromHex: fromHex,
    b64encode: b64encode,
    b64decode: b64decode,
    equal: equal,
  };
})(typeof self !== "undefined" ? self : this);
