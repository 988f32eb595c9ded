"""Docker events turned into Slack alerts: the watcher, its incidents, and what alerts say."""
