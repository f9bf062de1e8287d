"""Plain storage: saving results under free names, name templates, the ledger."""
