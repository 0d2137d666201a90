"""What each command shows: report data -> Table (for table/markdown/csv) or a JSON-able dict,
a module per command (summarize, flops, list, validate, evaluate, predict, bench, weights) and
problems.py (a mistake as JSON, for every command)."""
