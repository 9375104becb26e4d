"""Ingest: MQTT telemetry in, readings stored once each in TimescaleDB.

``protocol`` decodes and validates a message (pure), ``catalog`` knows the machines and
channels, ``writer`` COPYs batches and dead letters into the database, ``worker`` owns
the MQTT session, batches, and acknowledges each message only after its batch commits.
"""
