"""Facade, corridor and drift planners."""

from __future__ import annotations

import argparse

from drone_missions.errors import MissionError


def facade_command(args: argparse.Namespace) -> int:
    raise MissionError("plan facade is not available yet")


def corridor_command(args: argparse.Namespace) -> int:
    raise MissionError("plan corridor is not available yet")


def drift_command(args: argparse.Namespace) -> int:
    raise MissionError("plan drift is not available yet")
