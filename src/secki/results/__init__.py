"""Tabulation and the pages that show results."""
