"""smartmine core: command line, bag I/O, message conversion, geodesy and frames.

Nothing domain-specific lives here; the domain packages (calibration, hyperspectral,
mapping, drone_missions, simulator, twin) stand on this one.
"""

__version__ = "0.1.0"
