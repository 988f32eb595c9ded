"""Test support: real local services (services.py) and a fake Slack Web API (fakeslack.py)."""
