"""Tabulation: the totals of every unit from the counted protocols, the outcome rules, the
turnout figures and their anomaly flags. No pages: :mod:`secki.portal` shows them."""
