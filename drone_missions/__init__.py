"""Drone missions: survey planning, safety validation, flight through MAVSDK/PX4.

Layer: above the ``smartmine`` core.
"""
