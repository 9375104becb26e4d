-- Broker accounts of the machines: each machine connects to the MQTT broker with its
-- serial number as user name and a secret of its own, and may publish only to its own
-- telemetry topic (ingest/broker_access.py renders Mosquitto's password file and ACL
-- from this table). Only a hash of the secret is kept; the secret itself is shown
-- once, when it is issued (prognos devices provision).

CREATE TABLE device_credentials (
    equipment_id   integer PRIMARY KEY REFERENCES equipment (id) ON DELETE CASCADE,
    password_hash  text NOT NULL CHECK (password_hash LIKE '$7$%'),  -- Mosquitto 2's PBKDF2-SHA512
    enabled        boolean NOT NULL DEFAULT true,                     -- false: refused at CONNECT
    issued_at      timestamptz NOT NULL DEFAULT now(),
    rotations      integer NOT NULL DEFAULT 0
);
