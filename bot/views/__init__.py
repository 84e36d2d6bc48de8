"""Block Kit views: pure functions from data to Slack blocks, no sending."""
