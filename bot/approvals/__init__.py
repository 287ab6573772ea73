"""Approvals: an AI agent asks to run a sensitive action (a refund) and a human decides in Slack."""
