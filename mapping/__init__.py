"""Mapping: SfM, RGB-D SLAM, georeferenced point clouds, meshes, DSMs and orthophotos.

Layer: above the ``smartmine`` core (and calibration's camera models).
"""
