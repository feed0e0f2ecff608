"""Message conversion: ROS messages <-> numpy, by field name.

Readers accept any object with the right attributes: rosbags dataclasses (ROS 1 or
ROS 2 spellings, e.g. CameraInfo ``K`` or ``k``), rclpy messages, or stand-ins.
Builders take ``factory`` (default: :func:`default_factory`, the rosbags ROS 2
Jazzy typestore) and ROS 2 type names; array fields are passed as numpy arrays.
Times are integer nanoseconds. Errors a user can cause raise
:class:`smartmine.errors.ConversionError` naming the field at fault.
"""

from smartmine.msgs.camera import (
    DISTORTION_MODELS,
    CameraIntrinsics,
    camera_info_to_intrinsics,
    intrinsics_to_camera_info,
    read_camera_info_yaml,
    write_camera_info_yaml,
)
from smartmine.msgs.factory import MessageFactory, RosbagsFactory, default_factory, typestore
from smartmine.msgs.geometry import (
    OdometrySample,
    StampedTransform,
    matrix_to_pose,
    matrix_to_pose_stamped,
    matrix_to_transform,
    odometry_to_matrix,
    odometry_to_sample,
    pose_stamped_to_matrix,
    pose_to_matrix,
    sample_to_odometry,
    stamped_transform_to_transform_stamped,
    tf_message_to_transforms,
    transform_stamped_to_stamped_transform,
    transform_to_matrix,
    transforms_to_tf_message,
)
from smartmine.msgs.image import (
    IMAGE_ENCODINGS,
    ImageEncoding,
    compressed_image_to_numpy,
    image_encoding,
    image_to_numpy,
    numpy_to_compressed_image,
    numpy_to_image,
)
from smartmine.msgs.imu import ImuSample, imu_to_sample, sample_to_imu
from smartmine.msgs.navsat import GeoFix, geofix_to_navsatfix, navsatfix_to_geofix
from smartmine.msgs.pointcloud import (
    POINTFIELD_DTYPES,
    array_to_pointcloud2,
    pack_rgb,
    pointcloud2_to_array,
    pointcloud2_to_xyz,
    unpack_rgb,
    xyz_to_pointcloud2,
)
from smartmine.msgs.stamp import (
    header_frame_id,
    header_stamp_ns,
    make_header,
    ns_to_stamp,
    stamp_to_ns,
)

__all__ = [
    "DISTORTION_MODELS",
    "IMAGE_ENCODINGS",
    "POINTFIELD_DTYPES",
    "CameraIntrinsics",
    "GeoFix",
    "ImageEncoding",
    "ImuSample",
    "MessageFactory",
    "OdometrySample",
    "RosbagsFactory",
    "StampedTransform",
    "array_to_pointcloud2",
    "camera_info_to_intrinsics",
    "compressed_image_to_numpy",
    "default_factory",
    "geofix_to_navsatfix",
    "header_frame_id",
    "header_stamp_ns",
    "image_encoding",
    "image_to_numpy",
    "imu_to_sample",
    "intrinsics_to_camera_info",
    "make_header",
    "matrix_to_pose",
    "matrix_to_pose_stamped",
    "matrix_to_transform",
    "navsatfix_to_geofix",
    "ns_to_stamp",
    "numpy_to_compressed_image",
    "numpy_to_image",
    "odometry_to_matrix",
    "odometry_to_sample",
    "pack_rgb",
    "pointcloud2_to_array",
    "pointcloud2_to_xyz",
    "pose_stamped_to_matrix",
    "pose_to_matrix",
    "read_camera_info_yaml",
    "sample_to_imu",
    "sample_to_odometry",
    "stamp_to_ns",
    "stamped_transform_to_transform_stamped",
    "tf_message_to_transforms",
    "transform_stamped_to_stamped_transform",
    "transform_to_matrix",
    "transforms_to_tf_message",
    "typestore",
    "unpack_rgb",
    "write_camera_info_yaml",
    "xyz_to_pointcloud2",
]
