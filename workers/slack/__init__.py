"""The one way out to Slack: replies, the client, and shaping text and blocks inside Slack's limits."""
