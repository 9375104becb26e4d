-- Ground truth of the device simulator: every fault it injected, so detectors can be
-- evaluated against it (recall, precision, false alarms, lead time). Written by
-- device_sim/truth.py; docs/simulator.md describes every column.
CREATE TABLE sim_fault_truth (
    fault_id         text PRIMARY KEY,          -- '{seed}:{serial}:{mode}:{onset epoch s}'
    equipment_id     integer REFERENCES equipment (id),  -- NULL if the machine is not seeded
    serial_number    text NOT NULL,
    model            text NOT NULL,
    family           text NOT NULL,
    mode             text NOT NULL,             -- bearing_wear, ..., sensor_drift, excursion
    is_sensor_fault  boolean NOT NULL,          -- a sensor fault, not a machine fault
    channels         text[] NOT NULL,           -- channels where the signature shows
    component        text NOT NULL,             -- what wears or breaks
    parts            text[] NOT NULL DEFAULT '{}', -- part numbers the repair likely needs
    onset_at         timestamptz NOT NULL,      -- degradation starts
    failure_at       timestamptz NOT NULL,      -- functional failure (machine down)
    repaired_at      timestamptz,               -- healthy again; NULL: not in the simulation
    shape            text NOT NULL,             -- exponential, linear, fast, step
    grade            text NOT NULL CHECK (grade IN ('critical', 'major', 'minor')),
    source           text NOT NULL CHECK (source IN ('random', 'scheduled', 'excursion')),
    seed             bigint NOT NULL,           -- the fleet file's seed
    recorded_at      timestamptz NOT NULL DEFAULT now(),
    CHECK (failure_at >= onset_at)
);
CREATE INDEX sim_fault_truth_equipment_idx ON sim_fault_truth (serial_number, onset_at);
CREATE INDEX sim_fault_truth_onset_idx ON sim_fault_truth (onset_at);
