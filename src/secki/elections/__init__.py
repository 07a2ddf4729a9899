"""The election registry: elections, the territory tree, stations, candidates, protocol schemas."""
