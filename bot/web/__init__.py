"""The HTTP and Slack edges of `dockerverse web`: the Starlette app, Slack over HTTP and Socket Mode,
the App Home, CI hooks, the REST API with its OpenAPI document, and metrics."""
