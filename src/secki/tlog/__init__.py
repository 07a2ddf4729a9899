"""The public transparency log's core (spec/transparency.md; issue 14): pure Python, the
standard library and ``cryptography`` only, no Django, no database.

Modules and their public names (each function's docstring cites the spec's section):

``secki.tlog.canonical`` (§5.1)
    ``encode(value) -> bytes``, ``decode(data) -> dict`` (refuses bytes that do not re-encode
    identically), ``CanonicalError``.
``secki.tlog.merkle`` (§1)
    ``leaf_hash``, ``node_hash``, ``EMPTY_ROOT``, ``root_of(leaf_hashes)``,
    ``memory_subtree(leaf_hashes)`` (a ``subtree(a, b) -> MTH(D[a:b])`` function),
    ``inclusion_path(index, size, subtree)``, ``consistency_proof(old, new, subtree)``,
    ``verify_inclusion(index, size, leaf, path, root)``,
    ``verify_consistency(old, new, old_root, new_root, proof)`` (raise ``ProofError``).
``secki.tlog.tiles`` (§2)
    ``index_path``, ``tile_path``, ``bundle_path``, ``Tile``, ``tiles_for_size``,
    ``files_for_size``, ``encode_bundle``, ``decode_bundle``;
    ``TileWriter(directory, size=0, root=None).append(entries) -> (size, root)``,
    ``TileWriter.resume(directory)`` (at its ``checkpoint`` file's size);
    ``TileReader(source, size, root)`` with ``subtree``, ``check_root``, ``inclusion_path``,
    ``consistency_proof``, ``entry``, ``verified_entry``, ``entries``, ``all_entries``;
    sources ``directory_source(path)``, ``http_source(prefix)``; ``TileError``.
``secki.tlog.note`` (§3.2–3.4, §4.1–4.2)
    ``KeyType``, ``key_id``, ``VerifierKey`` (``parse``/``format`` of vkeys), ``Signer``
    (``parse``/``format`` of private keys, ``from_seed``), ``generate_key(name, key_type)``,
    ``sign_note(text, signer)``, ``cosignature_message(text, timestamp)``,
    ``cosign(text, signer, timestamp) -> line``, ``add_signatures(note, lines)``,
    ``split_note``, ``open_note(note, verifiers)``; ``NoteError``.
``secki.tlog.checkpoint`` (§3.1, §3.4, §4.4)
    ``Checkpoint(origin, size, root)`` with ``format``/``parse``, ``Witness``,
    ``WitnessPolicy(witnesses, quorum)`` with ``format``/``parse`` (its text format is in the
    module's docstring), ``open_checkpoint(note, log_key, policy, origin, now)``;
    ``CheckpointError``.
``secki.tlog.entries`` (§5.2–5.4)
    builders returning canonical bytes: ``protocol_accepted``, ``protocol_amended``,
    ``protocol_annulled``, ``turnout_reported``, ``scan_uploaded``, ``election_published``,
    ``election_closed``, ``register_published``, ``chain_anchor``; ``Prev.of(index, entry)``;
    ``parse_entry``; ``Replay`` (``add`` entry by entry, ``tally(election)``),
    ``replay(entries)``, ``first_invalid(entries)``, ``tally(entries, election) -> Tally``
    (``totals``, ``stations_counted``, ``stations``, ``turnout``, ``by_unit``);
    ``EntryError``/``InvalidEntry`` with ``index`` and ``rule``.
``secki.tlog.results`` (§5.4)
    ``results_path``, ``build_results(tally, root, checkpoint_note)``, ``parse_results``,
    ``compare_results``, ``check_results(data, entries, log_key, policy, origin, now)``;
    ``ResultsError``.
"""
