# syntax=docker/dockerfile:1
#
# smartmine on ROS 2 Jazzy (Ubuntu 24.04 "noble", Python 3.12).
#
#   docker build -t smartmine:jazzy .                  # runtime image (last stage)
#   docker build --target test -t smartmine:test .     # build + every test; fails on failure
#   docker run --rm -it --net=host smartmine:jazzy \
#       ros2 launch smartmine_ros open_pit_survey.launch.py
#
# Stages
#   base     ROS 2 Jazzy ros-base, the system libraries the wheels need, and the venv
#            /opt/smartmine/venv (--system-site-packages, so rclpy and the message
#            packages under /opt/ros stay visible) holding torch (CPU build, installed
#            first) and every pinned dependency of pyproject.toml, test tools included.
#            Only pyproject.toml is copied here, so source edits keep this layer cached.
#   build    smartmine from /src installed into the venv (`pip install /src[test]`), then
#            ros2_ws built with colcon into /opt/smartmine/ws, out of the source tree.
#   test     `colcon test` of smartmine_ros (installed files, executables, manifest) and
#            the repository's pytest suite, which here includes the live rclpy tests.
#   runtime  the build stage with the entrypoint that sources ROS, the overlay and the venv.
#
# colcon runs with the venv's interpreter (`python3 /usr/bin/colcon`): colcon runs setup.py
# with the interpreter that runs colcon, and smartmine_ros's setup.py generates one
# executable per processor from smartmine's registry, so smartmine must be importable
# there; the executables then get the venv's python as shebang, which sees smartmine,
# torch and (through --system-site-packages and the sourced PYTHONPATH) rclpy.
# No --symlink-install: the image wants a self-contained install space that does not
# point back into /src, and setuptools' `develop` path that symlink installs use is the
# one newer setuptools removed.

# The tag pins ROS distribution and Ubuntu release; for byte-for-byte rebuilds pin the
# digest too (docker buildx imagetools inspect ros:jazzy-ros-base-noble).
ARG BASE_IMAGE=ros:jazzy-ros-base-noble
ARG TORCH_INDEX_URL=https://download.pytorch.org/whl/cpu

# ---------------------------------------------------------------------------------------
FROM ${BASE_IMAGE} AS base
ARG TORCH_INDEX_URL
SHELL ["/bin/bash", "-o", "pipefail", "-c"]
# PYTEST_DISABLE_PLUGIN_AUTOLOAD: ROS's launch_testing/launch_ros pytest plugins (found
# through the sourced PYTHONPATH) do not load under our pinned pytest, and no test of ours
# needs an auto-loaded plugin.
ENV DEBIAN_FRONTEND=noninteractive \
    PYTHONUNBUFFERED=1 \
    PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1 \
    VIRTUAL_ENV=/opt/smartmine/venv \
    SMARTMINE_VENV=/opt/smartmine/venv \
    SMARTMINE_WS=/opt/smartmine/ws \
    PATH=/opt/smartmine/venv/bin:${PATH} \
    PYTEST_DISABLE_PLUGIN_AUTOLOAD=1

# System libraries of the wheels (libGL/libgomp: open3d, OpenCV; libusb: pyrealsense2;
# expat), venv/pip, git, node/npm (the twin viewer's build); colcon comes with ros-base,
# installed here explicitly anyway.
RUN apt-get update \
 && apt-get install -y --no-install-recommends \
      python3-venv python3-pip libgl1 libgomp1 libusb-1.0-0 libexpat1 git \
      python3-colcon-common-extensions nodejs npm \
 && rm -rf /var/lib/apt/lists/*

RUN python3 -m venv --system-site-packages "${VIRTUAL_ENV}"

# torch first, from the PyTorch CPU index: the pin torch==2.13.0 is then satisfied by
# 2.13.0+cpu and no later install pulls the multi-GB CUDA build.
RUN pip install --index-url "${TORCH_INDEX_URL}" torch==2.13.0 \
 && python -c "import torch; assert torch.version.cuda is None, torch.version.cuda"

# The pinned dependencies (and test tools) of pyproject.toml, in a layer of their own.
# torch depends on setuptools and so pulls the newest one; colcon drives setup.py with the
# venv's python and setuptools >= 80 drops what colcon uses: keep it below 80.
COPY pyproject.toml /tmp/smartmine/pyproject.toml
RUN python -c "import tomllib; p = tomllib.load(open('/tmp/smartmine/pyproject.toml', 'rb'))['project']; print('\n'.join(p['dependencies'] + p['optional-dependencies']['test']))" \
      > /tmp/smartmine/requirements.txt \
 && pip install -r /tmp/smartmine/requirements.txt \
 && pip install "setuptools>=68,<80" \
 && python -c "import torch; assert torch.version.cuda is None, 'CUDA torch was pulled'" \
 && rm -rf /tmp/smartmine

# ---------------------------------------------------------------------------------------
FROM base AS build
COPY . /src
WORKDIR /src
# The twin viewer bundle first (npm ci + esbuild into twin/static/, shipped as package
# data; noble's nodejs 18 is enough), then .[test] again: the dependencies are there
# already, this adds smartmine itself.
RUN bash scripts/build_viewer.sh \
 && pip install "/src[test]" \
 && python -c "import torch; assert torch.version.cuda is None, 'CUDA torch was pulled'" \
 && smartmine node list >/dev/null

# ros2_ws/src/smartmine_ros/launch is a symlink to /src/launch (kept by COPY).
WORKDIR /src/ros2_ws
RUN source "/opt/ros/${ROS_DISTRO}/setup.bash" \
 && python3 /usr/bin/colcon --log-base "${SMARTMINE_WS}/log" build \
      --base-paths src \
      --build-base "${SMARTMINE_WS}/build" \
      --install-base "${SMARTMINE_WS}/install" \
      --event-handlers console_direct+ \
 && source "${SMARTMINE_WS}/install/setup.bash" \
 && ros2 pkg executables smartmine_ros \
 && python -c "import smartmine_ros.adapter" \
 && test -x "${SMARTMINE_WS}/install/smartmine_ros/lib/smartmine_ros/gnss_to_pose" \
 && head -n1 "${SMARTMINE_WS}/install/smartmine_ros/lib/smartmine_ros/gnss_to_pose" \
      | grep -q "^#!${VIRTUAL_ENV}/bin/python"

COPY ros2_ws/docker/entrypoint.sh /opt/smartmine/entrypoint.sh
RUN chmod +x /opt/smartmine/entrypoint.sh

# ---------------------------------------------------------------------------------------
FROM build AS test
ENV ROS_AUTOMATIC_DISCOVERY_RANGE=LOCALHOST \
    ROS_DOMAIN_ID=42
WORKDIR /src/ros2_ws
RUN source "/opt/ros/${ROS_DISTRO}/setup.bash" \
 && source "${SMARTMINE_WS}/install/setup.bash" \
 && python3 /usr/bin/colcon --log-base "${SMARTMINE_WS}/log" test \
      --base-paths src \
      --build-base "${SMARTMINE_WS}/build" \
      --install-base "${SMARTMINE_WS}/install" \
      --packages-select smartmine_ros \
      --event-handlers console_direct+ \
 && python3 /usr/bin/colcon test-result --test-result-base "${SMARTMINE_WS}/build" --verbose
WORKDIR /src
RUN /opt/smartmine/entrypoint.sh python -m pytest -q -ra

# ---------------------------------------------------------------------------------------
FROM build AS runtime
WORKDIR /root
ENTRYPOINT ["/opt/smartmine/entrypoint.sh"]
CMD ["bash"]
