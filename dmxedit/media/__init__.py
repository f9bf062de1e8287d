"""Input images: formats, checks, preparation, receipts of what was delivered."""
