"""Hyperspectral library: radiometric calibration, spectral libraries, mineral and
contamination classification.

Layer: above the ``smartmine`` core (and calibration's camera models).
"""
