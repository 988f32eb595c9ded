"""`redeploy`: a fresh image into a running container's place, proven healthy, or rolled back (see command.py)."""
