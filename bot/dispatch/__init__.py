"""From a parsed command to a queued job: admission, rate limits, confirmations, fan-out, and reading
results back. Every edge (Slack, hooks, the API, the shell) enters here; nothing here touches Docker."""
