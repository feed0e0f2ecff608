"""Mine simulator: procedural open-pit and drift scenes rendered into bags with ground truth.

Layer: above the ``smartmine`` core (and calibration's camera models, hyperspectral library).
"""
