"""One request from start to end: the pipeline, its records, billing checks, doctor."""
