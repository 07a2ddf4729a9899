"""Pages for officials: log-in, protocol data entry, reconciliation queue, bulk upload, tokens."""
