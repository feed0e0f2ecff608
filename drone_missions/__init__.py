"""Drone missions: plan, check, export and fly surveys of open pits and GPS-denied drifts.

- :mod:`drone_missions.plan` — the one mission plan model (QGC ``.plan`` / WPL 110 I/O,
  MAVLink enums from pymavlink); the only module other packages may import.
- :mod:`drone_missions.qgc` — QGroundControl's survey / structure-scan maths.
- :mod:`drone_missions.survey`, :mod:`drone_missions.planners` — survey, facade,
  corridor and drift planners; :mod:`drone_missions.terrain` — terrain following.
- :mod:`drone_missions.check`, :mod:`drone_missions.coverage`,
  :mod:`drone_missions.export` — validation, photo coverage, GeoJSON/KML/PNG.
- :mod:`drone_missions.flight` — MAVSDK flight (missions, offboard + vision);
  :mod:`drone_missions.processors` — ``mission_executor`` and ``vision_to_px4``.

Layer: above the ``smartmine`` core; uses ``calibration.camera_model`` for cameras.
"""
