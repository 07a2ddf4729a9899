"""Station result protocols: versions, line values, statuses."""
