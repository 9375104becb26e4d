"""Device simulator: a fleet of machines that publish telemetry like real devices.

``fleet`` reads a fleet file (TOML: equipment models and channels, customers, machines,
the service network, scheduled faults); ``physics`` computes what a machine's sensors
read at a given simulated time (pure, seeded); ``publisher`` sends samples over MQTT
(QoS 1, protocol v1); ``runner`` drives the fleet in real or accelerated time.
"""
