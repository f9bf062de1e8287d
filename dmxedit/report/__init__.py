"""The report page: results files or ledger entries to one HTML page."""
