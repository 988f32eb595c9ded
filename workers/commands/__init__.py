"""What each command does on a Docker host, from a typed command to an outcome."""
