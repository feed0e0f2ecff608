"""Camera models and calibration (intrinsics, extrinsics, HSI–RGB registration).

Layer: above the ``smartmine`` core; may be imported by mapping, hyperspectral,
drone_missions, simulator and twin.
"""
