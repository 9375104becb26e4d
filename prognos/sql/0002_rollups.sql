-- Prognos schema, version 2: 1-minute and 1-hour rollups of readings, the queue of
-- buckets to recompute, and how far retention has dropped each source table.
-- Plain hypertables on every TimescaleDB edition, maintained by the platform's own job
-- (ingest/rollups.py) and trimmed by ingest/retention.py. docs/rollups.md explains why.

-- ---------------------------------------------------------------- rollups
-- One row per machine, channel and minute that has readings. `last` is the value of
-- the latest reading in the bucket, taken at `last_time`.
CREATE TABLE readings_1m (
    bucket        timestamptz NOT NULL,
    equipment_id  integer NOT NULL,
    channel_id    smallint NOT NULL,
    min           double precision NOT NULL,
    max           double precision NOT NULL,
    mean          double precision NOT NULL,
    count         bigint NOT NULL CHECK (count > 0),
    last          double precision NOT NULL,
    last_time     timestamptz NOT NULL,
    PRIMARY KEY (equipment_id, channel_id, bucket)
);
SELECT create_hypertable('readings_1m', by_range('bucket', INTERVAL '7 days'));

-- The same per hour, computed from readings_1m (count-weighted mean).
CREATE TABLE readings_1h (
    bucket        timestamptz NOT NULL,
    equipment_id  integer NOT NULL,
    channel_id    smallint NOT NULL,
    min           double precision NOT NULL,
    max           double precision NOT NULL,
    mean          double precision NOT NULL,
    count         bigint NOT NULL CHECK (count > 0),
    last          double precision NOT NULL,
    last_time     timestamptz NOT NULL,
    PRIMARY KEY (equipment_id, channel_id, bucket)
);
SELECT create_hypertable('readings_1h', by_range('bucket', INTERVAL '30 days'));

-- ---------------------------------------------------------------- what to recompute
-- A queue, not a set: level '1m' rows name minutes whose readings changed (one row per
-- ingest batch and minute, written in the batch's transaction), level '1h' rows name
-- hours whose minute rollups changed. There is deliberately no unique key: each writer
-- inserts its own row, so a refresh that deletes the rows it can see can never consume
-- the mark of a batch that has not committed yet (docs/rollups.md, "Late data").
CREATE TABLE rollup_dirty (
    level   text NOT NULL CHECK (level IN ('1m', '1h')),
    bucket  timestamptz NOT NULL
);
CREATE INDEX rollup_dirty_level_bucket_idx ON rollup_dirty (level, bucket);

-- How far retention has dropped a source of rollups: every chunk of `hypertable`
-- before `dropped_before` is gone. Buckets before it can no longer be recomputed from
-- their source, so late data there is folded into the existing rollup instead.
CREATE TABLE retention_horizon (
    hypertable      text PRIMARY KEY CHECK (hypertable IN ('readings', 'readings_1m', 'readings_1h')),
    dropped_before  timestamptz NOT NULL
);

-- Readings stored before this migration: queue every minute they span, so the rollup
-- job builds their rollups (minutes without readings cost an index probe each).
INSERT INTO rollup_dirty (level, bucket)
SELECT '1m', minute
FROM (SELECT time_bucket('1 minute', min(time)) AS first_minute, max(time) AS last_time
      FROM readings) AS span,
     generate_series(span.first_minute, span.last_time, INTERVAL '1 minute') AS minute;
