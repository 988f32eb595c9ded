"""The `dockerverse` command line: web, worker, up, shell, send, doctor, keygen."""
