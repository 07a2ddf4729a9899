"""Election statistics: forensics, PVT, exit polls and audit math (stdlib, numpy, scipy)."""
