"""Election-day turnout reports at fixed report times."""
