"""Camera models and calibration (intrinsics, extrinsics, HSI–RGB registration).

``camera_model.CameraModel`` (project / distort / undistort for plumb_bob,
rational_polynomial and equidistant) and ``io.load_calibration`` (calibration.yaml)
are what other packages use; ``smartmine calibrate camera|stereo|depth|imu|hsi``
(``commands``) makes the files. Modules: boards, sources, intrinsics, stereo, depth,
imu, hsi, io, report, synthetic (board images rendered through a known camera).

Layer: above the ``smartmine`` core. Other domain packages (mapping, hyperspectral,
drone_missions, simulator) may import only ``camera_model``; twin anything.
"""
