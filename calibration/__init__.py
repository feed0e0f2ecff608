"""Camera models and calibration (intrinsics, extrinsics, HSI–RGB registration).

``camera_model.CameraModel`` (project / distort / undistort for plumb_bob,
rational_polynomial and equidistant) is what other packages use; ``io.load_calibration``
reads calibration.yaml. ``pipeline`` runs a calibration into an output folder
(``run_camera|run_stereo|run_depth|run_imu|run_hsi``); ``smartmine calibrate
camera|stereo|depth|imu|hsi`` (``commands``) is its argparse wiring. Modules: boards,
sources, intrinsics, stereo, depth, imu, hsi, io, report, pipeline, synthetic (board
images rendered through a known camera).

Layer: above the ``smartmine`` core. Other domain packages (mapping, hyperspectral,
drone_missions, simulator) may import only ``camera_model``; twin anything.
"""
