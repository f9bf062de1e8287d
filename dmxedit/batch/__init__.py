"""Many requests: jobs, the results file, the index, shards, concurrency, the runner, status."""
