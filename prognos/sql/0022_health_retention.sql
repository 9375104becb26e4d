-- Retention of the health hypertable (ingest/retention.py, PROGNOS_RETENTION__HEALTH_DAYS,
-- 90 days by default): how far it was dropped is recorded beside the readings' horizons.
ALTER TABLE retention_horizon DROP CONSTRAINT retention_horizon_hypertable_check;
ALTER TABLE retention_horizon ADD CONSTRAINT retention_horizon_hypertable_check
    CHECK (hypertable IN ('readings', 'readings_1m', 'readings_1h', 'health'));
