"""The command line: Typer glue only (parse, call the core, render)."""
