"""The standalone verifier of the public transparency log (spec/transparency.md §0, §5.5;
issue 14 part 5): from the published files alone, and the keys a citizen pins, it checks that
a site's election logs are signed, witnessed, consistent with what it saw before, hold a
station's protocol and scan, and add up to the published totals.

Standard library, ``cryptography`` and :mod:`secki.tlog` only: ``make verifier`` packs
``secki/__init__.py``, ``secki.tlog`` and this package into ``dist/secki-verify.pyz``, which
runs where only ``cryptography`` is installed.

Modules and their public names:

``secki.verifier.site`` (the published layout)
    ``open_site(location) -> Site`` (a directory or an ``http(s)://`` prefix; ``Site.under``,
    ``Site.fetch``), ``ElectionLog``, ``parse_elections``, ``parse_hints``, ``SiteError``.
``secki.verifier.state`` (what the verifier remembers between runs)
    ``State`` (pinned log key and witness policy, the last verified checkpoint per origin),
    ``load_state``, ``save_state``, ``default_state_path``, ``StateError``.
``secki.verifier.check``
    ``Options``, ``verify(options, out, err) -> Report`` (``Report.verdicts``, each a
    ``Verdict(status, subject, message)``; ``Report.failed``).
``secki.verifier.progress``
    ``Progress`` (a progress bar on a text stream).
``secki.verifier.cli``
    ``secki verify URL_OR_DIR …`` (``main(argv)``; also ``secki-verify`` and the zipapp).
``secki.verifier.pyz``
    ``build(target)``: the zipapp, refusing modules that import beyond the standard library,
    ``cryptography``, ``secki.tlog`` and ``secki.verifier``.
"""
