"""Secki: the results side of a national paper-ballot election, verifiable by anyone."""

__version__ = "0.1.0"
