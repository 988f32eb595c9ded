# A benchmark is one actor sending hundreds of commands a minute: the policy's per-actor limits (reads,
# changes, follows) would measure the limiter, not the pipeline.
UNLIMITED = "rate_limits:\n  mutating: 100000/minute\n  reads: 100000/minute\n  follows: 50\n"
