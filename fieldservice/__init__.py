"""Field service: the service network, work orders, routing and SLA promises.

``routing`` and ``sla`` are pure functions over the dataclasses of ``domain``;
``store`` reads and writes the network and work orders; ``dispatch`` opens a work order
for a fault and routes it to a station and a technician.
"""
