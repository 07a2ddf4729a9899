"""Officials, their roles scoped to territory, API tokens, and the one access check."""
