-- Health models: the model registry and the health hypertable (models/, docs/models.md).

-- ---------------------------------------------------------------- model registry
-- Every trained version of a family's model, with its artefact and what it was trained
-- on. At most one version per family is active; scoring uses it.
CREATE TABLE model_versions (
    family      text NOT NULL REFERENCES equipment_families (code),
    version     integer NOT NULL CHECK (version > 0),
    created_at  timestamptz NOT NULL DEFAULT now(),
    active      boolean NOT NULL DEFAULT false,
    artefact    bytea NOT NULL,              -- the pickled models.family.FamilyModel
    sha256      text NOT NULL,               -- of artefact, checked before it is loaded
    metadata    jsonb NOT NULL,              -- data range, channels, features, metrics, library versions
    PRIMARY KEY (family, version)
);
CREATE UNIQUE INDEX model_versions_one_active_idx ON model_versions (family) WHERE active;

-- ---------------------------------------------------------------- health
-- One row per machine and scored window (its end). Scoring the same window again
-- replaces the row.
CREATE TABLE health (
    time              timestamptz NOT NULL,  -- end of the scored window
    equipment_id      integer NOT NULL,
    score             real NOT NULL CHECK (score BETWEEN 0 AND 100),  -- 100 = healthy
    statistic         double precision NOT NULL,  -- detector statistic; alarm_threshold = score 50
    anomalous         boolean NOT NULL,
    contributions     jsonb NOT NULL,        -- {"pump_vibration": 0.61, ...}: shares, summing to 1
    explanation       text NOT NULL,         -- "pump vibration 61 %, hydraulic oil temp 24 %"
    mode              text,                  -- likely failure mode (anomalous rows only)
    mode_probability  real CHECK (mode_probability BETWEEN 0 AND 1),
    sensor_fault      boolean NOT NULL DEFAULT false,  -- the likely mode is a sensor's, not the machine's
    rul_hours         double precision CHECK (rul_hours >= 0),  -- NULL: not enough history
    rul_low_hours     double precision CHECK (rul_low_hours >= 0),
    rul_high_hours    double precision CHECK (rul_high_hours >= 0),
    family            text NOT NULL,
    model_version     integer NOT NULL,
    scored_at         timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (equipment_id, time),
    CHECK (rul_low_hours IS NULL OR rul_hours IS NULL OR rul_low_hours <= rul_hours),
    CHECK (rul_high_hours IS NULL OR rul_hours IS NULL OR rul_hours <= rul_high_hours)
);
SELECT create_hypertable('health', by_range('time', INTERVAL '7 days'));
CREATE INDEX health_anomalous_idx ON health (time DESC) WHERE anomalous;
