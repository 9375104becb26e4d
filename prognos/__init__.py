"""Prognos core: the composition root.

Settings (one typed object), the database pool and migrations, TimescaleDB edition
detection, the local services the platform starts for itself, the scheduler wiring and
the ``prognos`` command line. Feature packages (``ingest``, ``models``, ``alerts``,
``fieldservice``, ``api``, ``device_sim``) never import this package's CLI or runner;
the runner imports them.
"""

__version__ = "0.1.0"
