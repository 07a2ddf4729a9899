"""The public log's entries in the database (spec/transparency.md §5; issue 14): one Merkle
log per election, written with every public fact; ``secki verify-log`` checks the rows."""
