"""The web dashboard: a page at `/` that signs in once with an API token and then calls /api/* with a session."""
