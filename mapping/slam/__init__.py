"""Underground RGB-D SLAM: odometry, loop closure, TSDF map, mine-grid georeferencing,
and trajectory evaluation (ATE/RPE like evo)."""
