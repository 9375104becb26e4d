-- Prognos schema, version 1: the equipment registry, telemetry, the service network,
-- alerts, work orders, the outbox of events and dead letters.
-- docs/schema.md explains every table.

CREATE EXTENSION IF NOT EXISTS timescaledb;

-- ---------------------------------------------------------------- equipment registry
CREATE TABLE equipment_families (
    code        text PRIMARY KEY,            -- concrete_pump, truck_crane, excavator, ...
    name        text NOT NULL
);

CREATE TABLE equipment_models (
    id          integer GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    code        text NOT NULL UNIQUE,        -- the maker's model designation
    family      text NOT NULL REFERENCES equipment_families (code),
    name        text NOT NULL
);

-- What a model measures. A reading outside [physical_min, physical_max] is impossible
-- (a broken sensor or a bad message) and is quarantined by ingest; a reading outside
-- [valid_min, valid_max] is real and out of the healthy operating range: it opens an alert.
CREATE TABLE channels (
    id            smallint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    model_id      integer NOT NULL REFERENCES equipment_models (id),
    code          text NOT NULL,             -- coolant_temp, hydraulic_pressure, ...
    name          text NOT NULL,
    unit          text NOT NULL,
    valid_min     double precision,
    valid_max     double precision,
    physical_min  double precision,
    physical_max  double precision,
    alert_grade   text NOT NULL DEFAULT 'major' CHECK (alert_grade IN ('critical', 'major', 'minor')),
    UNIQUE (model_id, code),
    CHECK (valid_min IS NULL OR valid_max IS NULL OR valid_min <= valid_max),
    CHECK (physical_min IS NULL OR physical_max IS NULL OR physical_min <= physical_max)
);

CREATE TABLE customers (
    id          integer GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    code        text NOT NULL UNIQUE,
    name        text NOT NULL,
    high_value  boolean NOT NULL DEFAULT false
);

CREATE TABLE equipment (
    id               integer GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    serial_number    text NOT NULL UNIQUE,   -- also the machine's MQTT identity
    model_id         integer NOT NULL REFERENCES equipment_models (id),
    customer_id      integer NOT NULL REFERENCES customers (id),
    latitude         double precision NOT NULL CHECK (latitude BETWEEN -90 AND 90),
    longitude        double precision NOT NULL CHECK (longitude BETWEEN -180 AND 180),
    commissioned_on  date NOT NULL,
    warranty_end     date NOT NULL,
    service_package  text NOT NULL DEFAULT 'none' CHECK (service_package IN ('none', 'silver', 'gold')),
    created_at       timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX equipment_model_idx ON equipment (model_id);

-- ---------------------------------------------------------------- telemetry
CREATE TABLE readings (
    time          timestamptz NOT NULL,
    equipment_id  integer NOT NULL,
    channel_id    smallint NOT NULL,
    value         double precision NOT NULL
);
SELECT create_hypertable('readings', by_range('time', INTERVAL '1 day'));
-- One reading per machine, channel and instant: a redelivered message is stored once.
CREATE UNIQUE INDEX readings_identity_idx ON readings (equipment_id, channel_id, time DESC);

-- Messages that could not be stored, kept with their raw bytes and the reason.
CREATE TABLE dead_letters (
    id            bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    received_at   timestamptz NOT NULL DEFAULT now(),
    topic         text NOT NULL,
    payload       bytea NOT NULL,
    reason        text NOT NULL,             -- a short code: malformed_json, unknown_channel, ...
    detail        text NOT NULL,
    equipment_id  integer
);
CREATE INDEX dead_letters_reason_idx ON dead_letters (reason, received_at);

-- ---------------------------------------------------------------- service network
CREATE TABLE service_stations (
    id          integer GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    code        text NOT NULL UNIQUE,
    name        text NOT NULL,
    tier        smallint NOT NULL CHECK (tier BETWEEN 1 AND 3),
    city        text NOT NULL,
    region      text NOT NULL,
    latitude    double precision NOT NULL CHECK (latitude BETWEEN -90 AND 90),
    longitude   double precision NOT NULL CHECK (longitude BETWEEN -180 AND 180),
    skills      text[] NOT NULL DEFAULT '{}', -- equipment families the station is qualified for
    rating      numeric(2, 1) NOT NULL DEFAULT 4.0 CHECK (rating BETWEEN 3 AND 5),
    active      boolean NOT NULL DEFAULT true
);

CREATE TABLE technicians (
    id              integer GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    code            text NOT NULL UNIQUE,
    station_id      integer NOT NULL REFERENCES service_stations (id),
    name            text NOT NULL,
    level           text NOT NULL CHECK (level IN ('junior', 'intermediate', 'senior')),
    certifications  text[] NOT NULL DEFAULT '{}', -- equipment families
    supervised_jobs integer NOT NULL DEFAULT 0,
    active          boolean NOT NULL DEFAULT true
);
CREATE INDEX technicians_station_idx ON technicians (station_id);

CREATE TABLE parts (
    id           integer GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    part_number  text NOT NULL UNIQUE,
    name         text NOT NULL,
    class        text NOT NULL CHECK (class IN ('critical', 'common', 'consumable')),
    families     text[] NOT NULL DEFAULT '{}'
);

-- Where parts are held: the central warehouse, regional depots and the stations.
CREATE TABLE stock_locations (
    id          integer GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    code        text NOT NULL UNIQUE,
    kind        text NOT NULL CHECK (kind IN ('central_warehouse', 'regional_depot', 'station')),
    name        text NOT NULL,
    station_id  integer UNIQUE REFERENCES service_stations (id),
    latitude    double precision NOT NULL,
    longitude   double precision NOT NULL,
    CHECK ((kind = 'station') = (station_id IS NOT NULL))
);

CREATE TABLE stock (
    location_id    integer NOT NULL REFERENCES stock_locations (id),
    part_id        integer NOT NULL REFERENCES parts (id),
    on_hand        integer NOT NULL DEFAULT 0 CHECK (on_hand >= 0),
    reserved       integer NOT NULL DEFAULT 0 CHECK (reserved >= 0 AND reserved <= on_hand),
    safety_stock   integer NOT NULL DEFAULT 0 CHECK (safety_stock >= 0),
    reorder_point  integer NOT NULL DEFAULT 0 CHECK (reorder_point >= 0),
    PRIMARY KEY (location_id, part_id)
);

-- ---------------------------------------------------------------- alerts and work orders
CREATE TABLE alerts (
    id            bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    equipment_id  integer NOT NULL REFERENCES equipment (id),
    channel_id    smallint REFERENCES channels (id),
    rule          text NOT NULL,             -- threshold, model, ...
    grade         text NOT NULL CHECK (grade IN ('critical', 'major', 'minor')),
    status        text NOT NULL DEFAULT 'open' CHECK (status IN ('open', 'acknowledged', 'closed')),
    message       text NOT NULL,
    details       jsonb NOT NULL DEFAULT '{}',
    reading_time  timestamptz NOT NULL,      -- the reading that opened it
    opened_at     timestamptz NOT NULL DEFAULT now(),
    closed_at     timestamptz
);
-- At most one alert that is not closed per machine, channel and rule.
CREATE UNIQUE INDEX alerts_one_open_idx ON alerts (equipment_id, coalesce(channel_id, 0), rule)
    WHERE status <> 'closed';
CREATE INDEX alerts_opened_idx ON alerts (opened_at DESC);

CREATE SEQUENCE work_order_number_seq;
CREATE TABLE work_orders (
    id              bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    number          text NOT NULL UNIQUE DEFAULT 'WO-' || lpad(nextval('work_order_number_seq')::text, 7, '0'),
    equipment_id    integer NOT NULL REFERENCES equipment (id),
    alert_id        bigint UNIQUE REFERENCES alerts (id),
    source          text NOT NULL CHECK (source IN ('alert', 'phone', 'app', 'messaging', 'preventive')),
    grade           text NOT NULL CHECK (grade IN ('critical', 'major', 'minor')),
    status          text NOT NULL DEFAULT 'new'
                    CHECK (status IN ('new', 'assigned', 'accepted', 'on_site', 'resolved', 'closed', 'cancelled')),
    fault_description text NOT NULL,
    under_warranty  boolean NOT NULL,
    station_id      integer REFERENCES service_stations (id),
    technician_id   integer REFERENCES technicians (id),
    distance_km     double precision,
    routing         jsonb NOT NULL DEFAULT '{}', -- why this station: candidates and the rule applied
    sla_due_at      timestamptz NOT NULL,
    created_at      timestamptz NOT NULL DEFAULT now(),
    assigned_at     timestamptz,
    accepted_at     timestamptz,
    on_site_at      timestamptz,
    resolved_at     timestamptz,
    closed_at       timestamptz,
    result          text,
    first_time_fix  boolean,
    customer_rating smallint CHECK (customer_rating BETWEEN 1 AND 5)
);
CREATE INDEX work_orders_status_idx ON work_orders (status, created_at DESC);
CREATE INDEX work_orders_station_idx ON work_orders (station_id);

-- ---------------------------------------------------------------- events leaving the system
-- Written in the same transaction as the change that caused them.
CREATE TABLE outbox (
    id              bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    event_type      text NOT NULL,           -- alert.opened, work_order.created, ...
    aggregate_type  text NOT NULL,
    aggregate_id    text NOT NULL,
    payload         jsonb NOT NULL,
    created_at      timestamptz NOT NULL DEFAULT now(),
    dispatched_at   timestamptz              -- fanned out into webhook_deliveries
);
CREATE INDEX outbox_pending_idx ON outbox (id) WHERE dispatched_at IS NULL;

CREATE TABLE webhook_deliveries (
    id               bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    event_id         bigint NOT NULL REFERENCES outbox (id),
    url              text NOT NULL,
    status           text NOT NULL DEFAULT 'pending' CHECK (status IN ('pending', 'delivered', 'failed')),
    attempts         integer NOT NULL DEFAULT 0,
    next_attempt_at  timestamptz NOT NULL DEFAULT now(),
    last_status_code integer,
    last_error       text,
    delivered_at     timestamptz,
    UNIQUE (event_id, url)
);
CREATE INDEX webhook_deliveries_due_idx ON webhook_deliveries (next_attempt_at) WHERE status = 'pending';
