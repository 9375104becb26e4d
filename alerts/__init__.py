"""Alerts: rules that turn readings into alerts, the outbox of events, webhook delivery.

``rules`` is pure (thresholds over a batch of readings); ``store`` opens alerts in the
database, once per machine, channel and rule while one is open; ``outbox`` records
events in the caller's transaction; ``webhooks`` signs and delivers them, with retries.
"""
