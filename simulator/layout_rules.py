"""What a scene's geometry must leave room for, checked before anything is built.

The drift's features are placed at random between fixed margins (the fault gouge before
the junction, the seep between junction and bend, the ore vein after the bend, the
limestone band in the cross-cut, the revisit route's U-turns), the pit's ground-control
targets on levelled pads around the rim and on the floor. The margins live here, used
both by the placing code (``simulator.scene_drift``, ``simulator.scene_pit``) and by
``simulator.config.validate``, which refuses a configuration that cannot hold them,
naming the fields and the rule (a short drift ended in numpy's "high - low < 0").
"""

from __future__ import annotations

import math
from typing import TYPE_CHECKING

import numpy as np

from simulator.trajectory import Path

if TYPE_CHECKING:
    from simulator.config import DriftConfig, PitConfig

PATH_END_CLEARANCE_M = 2.5
"""The robot's path stops this far short of either end of the main drift."""
FAULT_FROM_START_M = 8.0
"""The fault gouge crosses the first leg at least this far from the start ..."""
FAULT_BEFORE_JUNCTION_M = 5.0
"""... and this far before the junction."""
SEEP_AFTER_JUNCTION_M = 5.0
"""The seep lies this far past the junction or more ..."""
SEEP_BEFORE_BEND_M = 2.0
"""... and this far before the bend starts or more."""
VEIN_AFTER_BEND_M = 15.0
"""The ore vein crosses at least this far past the first leg's straight ..."""
VEIN_BEFORE_END_M = 8.0
"""... and this far before the end of the drift."""
LIMESTONE_FROM_JUNCTION_M = 10.0
"""The limestone band crosses the cross-cut at least this far from the junction ..."""
LIMESTONE_BEFORE_END_M = 5.0
"""... and this far before its end."""
UTURN_RADIUS_M = 0.8
"""The revisit route's U-turns: half the lateral offset between its outward and return
lanes (the fillets of two 90° corners whose shared leg is twice this long)."""


def drift_azimuths_rad(d: DriftConfig) -> tuple[float, float]:
    """Azimuths of the first and second leg."""
    az1 = math.radians(d.heading_deg)
    return az1, az1 + math.radians(d.bend_deg)


def drift_centre_line(d: DriftConfig) -> Path:
    """The main drift's centre-line: first leg, bend (fillet), second leg, at ``grade``."""
    az1, az2 = drift_azimuths_rad(d)
    h1 = np.array([math.sin(az1), math.cos(az1), 0.0])
    h2 = np.array([math.sin(az2), math.cos(az2), 0.0])
    w0 = np.zeros(3)
    w1 = w0 + d.leg1_m * h1 + [0.0, 0.0, d.grade * d.leg1_m]
    w2 = w1 + d.leg2_m * h2 + [0.0, 0.0, d.grade * d.leg2_m]
    return Path(np.stack([w0, w1, w2]), d.bend_radius_m)


def first_straight_m(centre_line: Path) -> float:
    """Length of the first leg's straight part (the junction lies on it)."""
    first = centre_line.segments[0]
    return float(first.length) if first.kind == "line" else 0.0


def drift_problems(d: DriftConfig) -> list[str]:
    """Why the drift layout of ``d`` cannot hold its features (the fault before the
    junction, the seep between junction and bend, the vein after the bend, the limestone
    band in the cross-cut), each naming the fields and the rule; empty when it can."""
    if not 0.01 <= d.bend_deg <= 150.0:
        return [
            f"drift.bend_deg {d.bend_deg:g} must be 0.01..150 (a right-hand bend; the ore "
            "vein crosses after it)"
        ]
    centre_line = drift_centre_line(d)
    straight = first_straight_m(centre_line)
    after = centre_line.length - straight
    problems = []
    fault_min = FAULT_FROM_START_M + FAULT_BEFORE_JUNCTION_M
    if d.junction_at_m < fault_min:
        problems.append(
            f"drift.junction_at_m {d.junction_at_m:g} must be at least {fault_min:g} m (the "
            f"fault gouge crosses {FAULT_FROM_START_M:g} m or more from the start and "
            f"{FAULT_BEFORE_JUNCTION_M:g} m or more before the junction)"
        )
    seep_room = SEEP_AFTER_JUNCTION_M + SEEP_BEFORE_BEND_M
    if straight - d.junction_at_m < seep_room:
        problems.append(
            f"drift.junction_at_m {d.junction_at_m:g} must be at least {seep_room:g} m before "
            f"the bend, which starts at {straight:.1f} m (drift.leg1_m {d.leg1_m:g} less the "
            f"fillet of drift.bend_deg {d.bend_deg:g} / drift.bend_radius_m "
            f"{d.bend_radius_m:g}): the seep lies between them"
        )
    vein_room = VEIN_AFTER_BEND_M + VEIN_BEFORE_END_M
    if after < vein_room:
        problems.append(
            f"drift.leg2_m {d.leg2_m:g}: the drift after the first straight (bend and second "
            f"leg, {after:.1f} m) must be at least {vein_room:g} m long for the ore vein"
        )
    lime_min = LIMESTONE_FROM_JUNCTION_M + LIMESTONE_BEFORE_END_M
    if d.branch_length_m < lime_min:
        problems.append(
            f"drift.branch_length_m {d.branch_length_m:g} must be at least {lime_min:g} m "
            "(the limestone band crosses the cross-cut)"
        )
    revisit = revisit_problem(d, straight) if d.route == "revisit" else None
    return [*problems, *([revisit] if revisit else [])]


def revisit_problem(d: DriftConfig, straight_m: float) -> str | None:
    """Why the ``revisit`` route's U-turns do not fit the first leg; None when they do."""
    r = UTURN_RADIUS_M
    far = d.junction_at_m + d.revisit_m / 2.0
    near = d.junction_at_m - d.revisit_m / 2.0
    start = PATH_END_CLEARANCE_M
    if near - r < start or far + r > straight_m - 1.0 or d.revisit_m < 4.0 * r:
        return (
            f"drift.revisit_m {d.revisit_m:g} does not fit the first leg around the junction "
            f"(U-turns at {near:.1f} and {far:.1f} m; room from {start + r:.1f} to "
            f"{straight_m - 1.0 - r:.1f} m)"
        )
    return None


GCP_PLATE_SCALE = 1.25
"""A ground-control target's plate is this much wider than its marker."""
RIM_GCP_OUT_M = 15.0
"""The rim's targets lie this far outside it (plus their plate)."""


def pit_problems(p: PitConfig) -> list[str]:
    """Why the pit of ``p`` cannot be built as asked, each naming the fields and the rule;
    empty when it can."""
    problems = []
    if not 0.0 <= p.outline_noise <= 0.5:
        problems.append(
            f"pit.outline_noise {p.outline_noise:g} must be 0..0.5 (the rim's radius wobbles "
            "by that share; more would turn it inside out)"
        )
    pad_m = pad_radius_m(p)
    if p.gcp_count > 0 and pad_m < p.grid_res_m * math.sqrt(0.5):
        problems.append(
            f"pit.gcp_size_m {p.gcp_size_m:g}: its levelled pad ({pad_m:.2f} m radius) "
            f"must cover a node of pit.grid_res_m {p.grid_res_m:g} (at least "
            f"{p.grid_res_m * math.sqrt(0.5):.2f} m), or set pit.gcp_count 0"
        )
    room_m = (
        p.outline_noise * max(p.width_m, p.length_m) / 2.0
        + RIM_GCP_OUT_M
        + p.gcp_size_m * GCP_PLATE_SCALE
        + pad_m
    )
    if p.gcp_count > 0 and p.margin_m < room_m:
        problems.append(
            f"pit.margin_m {p.margin_m:g} must be at least {room_m:.1f} m: the ground around "
            f"the rim holds its targets ({RIM_GCP_OUT_M:g} m out, pit.gcp_size_m "
            f"{p.gcp_size_m:g}) beyond the rim's wobble (pit.outline_noise "
            f"{p.outline_noise:g}); or set pit.gcp_count 0"
        )
    return problems


def pad_radius_m(p: PitConfig) -> float:
    """How far around a ground-control target the ground is levelled for it."""
    return p.gcp_size_m * GCP_PLATE_SCALE * 0.75 + 1.0
