"""``prognos bench sim``: the 1,000-machine fleet at accelerated time (device_sim/bench.py)
against a private Mosquitto started for the run; prints the achieved rate vs the target
and the per-machine baseline. Figures and command are in docs/benchmarks.md."""

from __future__ import annotations

import json
import shutil
import tempfile
from pathlib import Path

from device_sim import bench
from device_sim.fleet import load_fleet
from prognos.localservices import LocalMosquitto
from prognos.settings import PROJECT_ROOT

FLEET = PROJECT_ROOT / "examples" / "fleet-1000.toml"


def report(result: dict[str, object]) -> str:
    at, ceiling = result["at_target"], result["ceiling"]
    assert isinstance(at, dict)  # noqa: S101
    assert isinstance(ceiling, dict)  # noqa: S101
    return "\n".join(
        [
            f"fleet: {result['machines']} machines, every one running, one sample per "
            f"{result['interval_s']:g} simulated s, speed {result['speed']:g}x",
            f"target:   {result['target_samples_per_s']:>9,} samples/s",
            f"achieved: {result['achieved_samples_per_s']:>9,} samples/s "
            f"({result['achieved_over_target']:.1%} of target; simulated speed "
            f"{at['simulated_speed']:g}x; {at['cpu_cores']} cores of this process; "
            f"{at['messages_acked']:,} messages acknowledged, {at['dropped']} dropped)",
            f"ceiling:  {ceiling['samples_per_s']:>9,} samples/s (as fast as the broker "
            f"acknowledges; {ceiling['cpu_cores']} cores)",
            f"physics:  {result['physics_samples_per_s']:>9,} samples/s vectorised vs "
            f"{result['baseline_samples_per_s']:,} one machine at a time (baseline): "
            f"{result['physics_over_baseline']}x",
            f"peak RSS: {result['peak_rss_mb']} MB",
        ]
    )


def main(*, quick: bool = False, as_json: bool = False, fleet_file: Path = FLEET) -> int:
    home = Path(tempfile.mkdtemp(prefix="prognos-bench-sim-"))
    home.chmod(0o755)
    broker = LocalMosquitto(home, secure=False)  # anonymous machines: no registry here
    progress = (lambda _m: None) if as_json else (lambda m: print(m, flush=True))
    try:
        broker.start()
        config = bench.BenchConfig.quick() if quick else bench.BenchConfig()
        result = bench.run(load_fleet(fleet_file), "127.0.0.1", broker.port, config, progress)
    finally:
        broker.stop()
        shutil.rmtree(home, ignore_errors=True)
    print(json.dumps(result) if as_json else report(result))
    return 0
