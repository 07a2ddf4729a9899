"""``secki forensics``: the statistics of :mod:`secki.stats` on any station-level file.

A mapping file names which columns hold registered voters, ballots issued, ballots in
boxes, the leader's votes, the candidates and the grouping (see :mod:`.mapping`).
"""
