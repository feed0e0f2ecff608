"""Flying a plan through MAVSDK."""

from __future__ import annotations

import argparse

from drone_missions.errors import MissionError


def fly_command(args: argparse.Namespace) -> int:
    raise MissionError("fly is not available yet")
