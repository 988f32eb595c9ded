"""The vocabulary every process shares: the command grammar, policy, settings, text and masking.

No network and no Redis here; the web and the workers both build on this layer and on bot.wire only."""
