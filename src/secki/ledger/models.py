"""Ledger entries. Each entry's hash is SHA-256(previous hash + "\\n" + body), where body is the
canonical JSON of (seq, at, kind, election, payload). Altering, deleting or reordering any
row breaks the chain from that entry on."""

from __future__ import annotations

from django.db import models

from secki.elections.models import Election

GENESIS = "0" * 64


class LedgerEntry(models.Model):
    seq = models.PositiveBigIntegerField(unique=True)
    election = models.ForeignKey(
        Election, null=True, on_delete=models.SET_NULL, related_name="ledger_entries"
    )
    at = models.DateTimeField()
    kind = models.CharField(max_length=64)
    body = models.TextField(help_text="canonical JSON that the hash covers")
    prev_hash = models.CharField(max_length=64)
    hash = models.CharField(max_length=64, unique=True)

    class Meta:
        ordering = ["seq"]
        verbose_name_plural = "ledger entries"

    def __str__(self) -> str:
        return f"#{self.seq} {self.kind} {self.hash[:16]}"

    @property
    def grouped_hash(self) -> str:
        """The hash as 16 groups of four hex digits, for comparing by eye (Abacus style)."""
        return " ".join(self.hash[i : i + 4] for i in range(0, 64, 4))
