"""Brand webhooks: signed event deliveries to endpoints the brand subscribes."""
