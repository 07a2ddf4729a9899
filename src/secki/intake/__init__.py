"""Orchestration above the apps it calls: an election's bundle imported and exported
(elections, accounts' audited setup, protocols, turnout reports, the ledger in one transaction)
and the command line of the registry and of the bulk intake."""
