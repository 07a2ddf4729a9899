"""The public, append-only, hash-chained log of published facts (protocol accepted, amended,
annulled, turnout reported …). Anyone can verify it with ``secki verify-log``."""
