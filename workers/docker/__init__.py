"""The only Docker access in the product: the gateway over docker-py, and what a job may read or keep."""
