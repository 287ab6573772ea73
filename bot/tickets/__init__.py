"""Tickets for handoffs: the fallback tree, the queue, retries and two-way sync."""
