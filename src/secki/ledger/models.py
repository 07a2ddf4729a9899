"""The entries of the public transparency log (spec/transparency.md §5; issue 14), one log per
election, and the register files its entries name.

Each row is one leaf of its election's Merkle log: ``body`` is the entry's canonical JSON
(:mod:`secki.tlog.canonical`), the leaf is ``body.encode()``, and ``leaf_hash`` is its hex
``LH`` (:func:`secki.tlog.merkle.leaf_hash`). ``index`` numbers an election's leaves 0, 1, 2 …
without gaps; ``seq`` numbers all rows of all elections in the order they were written (the
caches' key: every public fact moves it). The Merkle tree, its tiles and its signed
checkpoints are computed from these rows by the publisher; nothing here is a hash chain.
"""

from __future__ import annotations

from django.db import models

from secki.elections.models import Election


class LedgerEntry(models.Model):
    seq = models.PositiveBigIntegerField(unique=True, help_text="global write order")
    # election leads the (election, index) and (election, subject, index) indexes: no index
    # of its own (one index fewer to write with every entry)
    election = models.ForeignKey(
        Election, on_delete=models.CASCADE, related_name="ledger_entries", db_index=False
    )
    index = models.PositiveBigIntegerField(help_text="leaf index in the election's log")
    kind = models.CharField(max_length=64)
    subject = models.CharField(
        max_length=200,
        blank=True,
        help_text="what the entry is about (protocol:<station>, turnout:<station>@<HH:MM> …)",
    )
    version = models.PositiveIntegerField(
        null=True, blank=True, help_text="the entry's version within its subject's chain"
    )
    body = models.TextField(help_text="the entry's canonical JSON; the leaf is its UTF-8")
    leaf_hash = models.CharField(max_length=64, help_text="hex LH(body)")
    at = models.DateTimeField()

    class Meta:
        ordering = ["seq"]
        verbose_name_plural = "ledger entries"
        constraints = [
            models.UniqueConstraint(fields=["election", "index"], name="ledger_entry_index"),
        ]
        indexes = [
            models.Index(fields=["election", "subject", "index"], name="ledger_entry_subject"),
        ]

    def __str__(self) -> str:
        return f"#{self.seq} {self.kind} (leaf {self.index}) {self.leaf_hash[:16]}"

    @property
    def grouped_hash(self) -> str:
        """The leaf hash as 16 groups of four hex digits, for comparing by eye."""
        return " ".join(self.leaf_hash[i : i + 4] for i in range(0, 64, 4))


class LogFile(models.Model):
    """A file an entry names by SHA-256 (the register's ``units.csv``, ``stations.csv``,
    ``candidates.csv`` in the bundle format, an ``election.json``), stored in the transaction
    that writes the entry, for the publisher to publish beside the log."""

    sha256 = models.CharField(max_length=64, primary_key=True)
    name = models.CharField(max_length=100)
    content = models.BinaryField()
    created_at = models.DateTimeField()

    def __str__(self) -> str:
        return f"{self.name} {self.sha256[:16]}"
