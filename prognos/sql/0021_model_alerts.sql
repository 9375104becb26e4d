-- Model alerts (alerts/model_rule.py, docs/models.md).

-- How likely a health row's anomaly is a sensor's (the sum of the sensor modes'
-- probabilities): the model-alert rule tells a sensor check from a machine fault by it.
ALTER TABLE health ADD COLUMN sensor_probability real
    CHECK (sensor_probability BETWEEN 0 AND 1);

-- What an alert is about beyond its machine, channel and rule. The threshold rule leaves
-- it NULL; the model rule sets 'machine' (a degrading machine), the failure mode for a
-- mode that stops the machine within hours ('seal_hose_leak'), or 'sensor' (a sensor
-- check; channel_id names the sensor). One alert that is not closed per cause.
ALTER TABLE alerts ADD COLUMN cause text;
DROP INDEX alerts_one_open_idx;
CREATE UNIQUE INDEX alerts_one_open_idx
    ON alerts (equipment_id, coalesce(channel_id, 0), rule, coalesce(cause, ''))
    WHERE status <> 'closed';
CREATE INDEX alerts_open_by_rule_idx ON alerts (rule, equipment_id) WHERE status <> 'closed';
