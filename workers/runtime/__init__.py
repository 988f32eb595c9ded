"""A worker process: its RQ worker and supervisor, admitting a job, running it, housekeeping."""
