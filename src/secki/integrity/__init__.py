"""Integrity in the app: live election forensics on accepted protocols, parallel vote
tabulation samples and exit polls compared with the official results (secki.stats does the
math)."""
