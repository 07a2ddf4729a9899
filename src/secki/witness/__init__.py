"""A transparency-log witness (spec/transparency.md §4; C2SP tlog-witness; issue 14 part 4):
a small standalone server that an observer organisation runs on its own machine, with its own
Ed25519 key and its own SQLite state, and the log's client for it. Standard library,
``cryptography`` and :mod:`secki.tlog` only.

Modules and their public names:

``secki.witness.server``
    ``Witness(signer, state, log_keys, origin_prefixes)`` with ``add_checkpoint(body) ->
    Answer`` (§4.3: 400/403/404/409/422/200) and ``latest(origin_hash) -> Answer`` (the
    monitoring endpoint); ``WitnessServer`` (a ``ThreadingHTTPServer`` serving
    ``POST /add-checkpoint`` and ``GET /<hex H(origin)>/checkpoint``).
``secki.witness.store``
    ``Store(path)``: the witness's SQLite state, every statement it runs (``read``,
    ``replace`` — compare and store in one transaction —, ``keep_refusal``, ``latest_note``,
    ``refusals``); ``origin_hash``.
``secki.witness.client``
    ``submit(url, old_size, proof, note, timeout) -> list[str]`` (cosignature lines),
    ``collect(policy, note, old_size, proof_for, timeout) -> str`` (the note with a quorum of
    cosignatures); ``WitnessError``, ``Conflict`` (409, with the witness's ``size``),
    ``QuorumError`` (with each witness's ``failures``).
``secki.witness.cli``
    ``secki witness keygen --name NAME --out FILE`` and ``secki witness serve …``
    (``main(argv)``; also the ``secki-witness`` program).
"""
