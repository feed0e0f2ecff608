"""The ROS 2 package ros2_ws/src/smartmine_ros, checked without ROS.

Manifest against the REP 149 schema (and catkin_pkg where installed), setup.py's
generated executables and data files, setup.cfg, the launch symlink, that the package's
helper modules import without rclpy, and the pure conversions the rclpy adapter relies on
(numpy -> rclpy field values, processor parameters -> ROS 2 parameters, QoS kinds).
"""

from __future__ import annotations

import array
import ast
import configparser
import json
import runpy
import subprocess
import sys
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import setuptools

from smartmine.errors import ConversionError
from smartmine.processor import ProcessorError, broken_processors, processor_registry

REPO = Path(__file__).resolve().parents[1]
PKG_DIR = REPO / "ros2_ws" / "src" / "smartmine_ros"
if str(PKG_DIR) not in sys.path:
    sys.path.insert(0, str(PKG_DIR))

from smartmine_ros import entry_points, fields, naming, params, qos  # noqa: E402
from smartmine_ros.factory import RclpyFactory  # noqa: E402

PURE_MODULES = ["entry_points", "factory", "fields", "main", "naming", "params", "qos"]
RUNTIME_DEPENDS = {
    "rclpy",
    "rcl_interfaces",
    "rosidl_runtime_py",
    "ament_index_python",
    "launch",
    "launch_ros",
}


def registry() -> dict[str, Any]:
    """The installed processors by name (entry points; not ones a test registers in-process)."""
    names = entry_points.processor_names()
    assert names, "no processors installed (is smartmine installed?)"
    found = processor_registry()
    broken = {n: broken_processors().get(n, "not registered") for n in names if n not in found}
    assert not broken, f"processors that do not load: {broken}"
    return {n: found[n] for n in names}


def fresh_registry_names() -> list[str]:
    """``processor_registry()`` of a fresh interpreter (this one may hold test processors)."""
    code = (
        "import json; from smartmine.processor import processor_registry; "
        "print(json.dumps(sorted(processor_registry())))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    names: list[str] = json.loads(out.stdout)
    return names


@pytest.fixture(scope="module")
def setup_kwargs() -> dict[str, Any]:
    """What setup.py hands to setuptools.setup(), the way colcon reads it."""
    captured: dict[str, Any] = {}
    original = setuptools.setup
    setuptools.setup = lambda **kwargs: captured.update(kwargs)
    try:
        runpy.run_path(str(PKG_DIR / "setup.py"), run_name="__main__")
    finally:
        setuptools.setup = original
    assert captured, "setup.py did not call setuptools.setup()"
    return captured


def exec_depends() -> set[str]:
    from lxml import etree

    tree = etree.parse(str(PKG_DIR / "package.xml"))
    return {str(e.text).strip() for e in tree.getroot().iter("exec_depend")}


# -- package.xml ------------------------------------------------------------------------
def test_package_xml_validates_against_rep149_schema() -> None:
    from lxml import etree

    schema = etree.XMLSchema(etree.parse(str(PKG_DIR / "test" / "package_format3.xsd")))
    manifest = etree.parse(str(PKG_DIR / "package.xml"))
    assert schema.validate(manifest), str(schema.error_log)
    root = manifest.getroot()
    assert root.get("format") == "3"
    assert root.findtext("name") == "smartmine_ros"
    assert root.findtext("export/build_type") == "ament_python"


def test_schema_rejects_a_broken_manifest() -> None:
    """The vendored schema does check: a manifest without maintainer fails."""
    from lxml import etree

    schema = etree.XMLSchema(etree.parse(str(PKG_DIR / "test" / "package_format3.xsd")))
    manifest = etree.parse(str(PKG_DIR / "package.xml"))
    root = manifest.getroot()
    root.remove(root.find("maintainer"))
    assert not schema.validate(manifest)


def test_package_xml_parses_and_validates_with_catkin_pkg() -> None:
    catkin_package = pytest.importorskip(
        "catkin_pkg.package", reason="catkin_pkg not installed (pip install catkin_pkg)"
    )
    package = catkin_package.parse_package(str(PKG_DIR / "package.xml"))
    package.validate()
    assert package.package_format == 3
    assert [e.content for e in package.exports if e.tagname == "build_type"] == ["ament_python"]
    assert {d.name for d in package.exec_depends} >= RUNTIME_DEPENDS
    assert "python3-pytest" in {d.name for d in package.test_depends}


def test_exec_depends_cover_every_message_package_of_the_processors() -> None:
    depends = exec_depends()
    assert depends >= RUNTIME_DEPENDS
    needed = {
        port.msgtype.split("/")[0]: f"{name}.{port.name}"
        for name, cls in registry().items()
        for port in (*cls.inputs, *cls.outputs)
    }
    missing = {pkg: where for pkg, where in needed.items() if pkg not in depends}
    assert not missing, f"package.xml lacks <exec_depend> for {missing}"


def test_versions_agree(setup_kwargs: dict[str, Any]) -> None:
    from lxml import etree

    version = etree.parse(str(PKG_DIR / "package.xml")).getroot().findtext("version")
    assert setup_kwargs["version"] == version
    assert setup_kwargs["name"] == "smartmine_ros"


# -- setup.py / setup.cfg / layout ------------------------------------------------------
def test_every_processor_gets_a_console_entry_point(setup_kwargs: dict[str, Any]) -> None:
    scripts = setup_kwargs["entry_points"]["console_scripts"]
    parsed = dict(line.replace(" ", "").split("=", 1) for line in scripts)
    assert parsed.pop("smartmine_node") == "smartmine_ros.main:main"
    names = fresh_registry_names()
    assert names
    assert sorted(parsed) == names, "one executable per registered processor"
    for name in names:
        assert parsed[name] == f"smartmine_ros.main:main_{name}"


def test_console_scripts_are_generated_not_hand_written() -> None:
    source = (PKG_DIR / "setup.py").read_text()
    assert "console_scripts()" in source
    for name in registry():
        assert f"main_{name}" not in source
    assert entry_points.console_scripts(["a_b", "c"])[1:] == [
        "a_b = smartmine_ros.main:main_a_b",
        "c = smartmine_ros.main:main_c",
    ]
    with pytest.raises(ValueError, match="cannot be executables"):
        entry_points.console_scripts(["not-an-identifier"])
    with pytest.raises(RuntimeError, match="no smartmine processors"):
        entry_points.console_scripts([])


def test_main_module_provides_every_entry_point_function() -> None:
    import smartmine_ros.main as main_module

    for name in registry():
        entry = getattr(main_module, f"main_{name}")
        assert callable(entry)
        assert entry.__name__ == f"main_{name}"
    assert callable(main_module.main)
    with pytest.raises(AttributeError):
        _ = main_module.not_an_entry_point


def test_processor_help_runs_without_ros(capsys: pytest.CaptureFixture[str]) -> None:
    import smartmine_ros.main as main_module

    for name, cls in registry().items():
        assert getattr(main_module, f"main_{name}")([name, "--help"]) == 0
        out = capsys.readouterr().out
        assert f"smartmine_{name}" in out
        for port in (*cls.inputs, *cls.outputs):
            assert port.msgtype in out
    assert main_module.main(["smartmine_node", "no_such_processor"]) == 2
    assert "no processor named" in capsys.readouterr().err


def test_setup_cfg_puts_executables_where_ros2_run_looks() -> None:
    cfg = configparser.ConfigParser(interpolation=None)
    cfg.read(PKG_DIR / "setup.cfg")
    assert cfg["develop"]["script_dir"] == "$base/lib/smartmine_ros"
    assert cfg["install"]["install_scripts"] == "$base/lib/smartmine_ros"


def test_data_files_install_marker_manifest_launch_and_params(
    setup_kwargs: dict[str, Any],
) -> None:
    data = dict(setup_kwargs["data_files"])
    assert data["share/ament_index/resource_index/packages"] == ["resource/smartmine_ros"]
    assert (PKG_DIR / "resource" / "smartmine_ros").is_file()
    assert data["share/smartmine_ros"] == ["package.xml"]
    launch = sorted(p.name for p in (REPO / "launch").glob("*.launch.py"))
    yamls = sorted(p.name for p in (REPO / "launch" / "params").glob("*.yaml"))
    assert launch and yamls
    assert [Path(f).name for f in data["share/smartmine_ros/launch"]] == launch
    assert [Path(f).name for f in data["share/smartmine_ros/params"]] == yamls
    for files in data.values():
        for f in files:
            assert not Path(f).is_absolute() and ".." not in Path(f).parts, f
            assert (PKG_DIR / f).is_file(), f
    assert setup_kwargs["packages"] == ["smartmine_ros"]
    assert "pytest" in setup_kwargs["extras_require"]["test"]


def test_launch_symlink_points_at_the_repository_launch_directory() -> None:
    link = PKG_DIR / "launch"
    assert link.is_symlink()
    assert not Path(str(link.readlink())).is_absolute(), "keep the symlink relative"
    assert link.resolve() == (REPO / "launch").resolve()


def test_helper_modules_import_without_rclpy() -> None:
    code = (
        "import sys; sys.path.insert(0, sys.argv[1]); "
        + "; ".join(f"import smartmine_ros.{m}" for m in PURE_MODULES)
        + "; import smartmine_ros.main as m; m.main_gnss_to_pose; "
        "print(sorted(k for k in ('rclpy', 'rosidl_runtime_py', 'launch_ros') if k in sys.modules))"
    )
    out = subprocess.run(
        [sys.executable, "-c", code, str(PKG_DIR)], capture_output=True, text=True, check=True
    )
    assert out.stdout.strip() == "[]"


def test_only_the_adapter_imports_rclpy_at_module_level() -> None:
    ros_only = {"rclpy", "rcl_interfaces", "rosidl_runtime_py", "launch", "launch_ros"}
    for path in sorted((PKG_DIR / "smartmine_ros").glob("*.py")):
        tree = ast.parse(path.read_text())
        top = set()
        for node in tree.body:
            if isinstance(node, ast.Import):
                top |= {a.name.split(".")[0] for a in node.names}
            elif isinstance(node, ast.ImportFrom) and node.module:
                top.add(node.module.split(".")[0])
        if path.name == "adapter.py":
            assert "rclpy" in top
        else:
            assert not top & ros_only, f"{path.name} imports {sorted(top & ros_only)}"


# -- names ------------------------------------------------------------------------------
def test_node_names_and_relative_topics() -> None:
    assert naming.node_name("gnss_to_pose") == "smartmine_gnss_to_pose"
    assert naming.node_topic("/gnss/fix") == "gnss/fix"
    assert naming.node_topic("/tf") == "tf"
    user, ros = naming.split_ros_args(
        ["gnss_to_pose", "--ros-args", "-r", "/gnss/fix:=/fix", "--", "--help"]
    )
    assert user == ["gnss_to_pose", "--help"]
    assert ros == ["--ros-args", "-r", "/gnss/fix:=/fix", "--"]


def test_every_port_has_a_known_qos_kind() -> None:
    for name, cls in registry().items():
        for port in (*cls.inputs, *cls.outputs):
            assert port.qos in qos.QOS, f"{name}.{port.name}: {port.qos}"
    assert qos.QOS["latched"] == qos.QosSpec("RELIABLE", "TRANSIENT_LOCAL", 1, None)
    assert qos.QOS["reliable"] == qos.QosSpec("RELIABLE", "VOLATILE", 10, None)
    assert qos.QOS["sensor"].preset == "qos_profile_sensor_data"


# -- parameters -------------------------------------------------------------------------
ROS_TYPES = {"BOOL", "INTEGER", "DOUBLE", "STRING"}


def test_every_processor_parameter_is_a_typed_ros_parameter() -> None:
    for name, cls in registry().items():
        declared = params.ros_params(cls)
        assert [p.name for p in declared] == [f for f in cls.Params.__dataclass_fields__]
        for p in declared:
            assert p.type in ROS_TYPES | {f"{t}_ARRAY" for t in ROS_TYPES}, (name, p)
            assert p.description, f"{name}.{p.name} has no description"
            if p.default is not None:
                assert params.check_ros_value(p, p.default) is None, (name, p)
            if p.info.range is not None:
                assert (p.float_range or p.int_range) is not None, (name, p.name)


def test_parameter_examples() -> None:
    found = registry()
    if "gnss_to_pose" not in found or "image_rectify" not in found:
        pytest.skip("the example processors are not registered")
    gnss = {p.name: p for p in params.ros_params(found["gnss_to_pose"])}
    assert gnss["utm_zone"].type == "INTEGER"
    assert gnss["utm_zone"].int_range == (0, 60)
    assert gnss["frame"].type == "STRING"
    assert "one of utm, enu" in gnss["frame"].additional_constraints
    assert gnss["enu_origin"].type == "DOUBLE_ARRAY"
    assert gnss["enu_origin"].default is None  # [] cannot be declared with its type
    rect = {p.name: p for p in params.ros_params(found["image_rectify"])}
    assert rect["alpha"].float_range == (-1.0, 1.0)
    assert rect["sync_tolerance_s"].description.endswith("[s]")
    assert rect["use_latest_camera_info"].default is True


def test_check_ros_value_states_the_ros_typing_rules() -> None:
    cls = registry().get("image_rectify")
    if cls is None:
        pytest.skip("image_rectify is not registered")
    alpha = {p.name: p for p in params.ros_params(cls)}["alpha"]
    assert params.check_ros_value(alpha, 0.5) is None
    problem = params.check_ros_value(alpha, 1)
    assert problem is not None and "write 1.0" in problem
    gnss = registry().get("gnss_to_pose")
    if gnss is not None:
        origin = {p.name: p for p in params.ros_params(gnss)}["enu_origin"]
        assert params.check_ros_value(origin, [49.9, 82.6, 300.0]) is None
        assert "empty array" in str(params.check_ros_value(origin, []))
        assert params.check_ros_value(origin, [49.9, 82, 300.0]) is not None


def test_from_ros_value_gives_lists() -> None:
    assert params.from_ros_value(array.array("d", [1.0, 2.0])) == [1.0, 2.0]
    assert params.from_ros_value((1, 2)) == [1, 2]
    assert params.from_ros_value(np.array([1.5])) == [1.5]
    assert params.from_ros_value("utm") == "utm"
    assert params.from_ros_value(None) is None


def test_unrepresentable_parameter_type_is_refused() -> None:
    from dataclasses import dataclass

    from smartmine.processor import Port, Processor, param

    @dataclass
    class BadParams:
        table: dict[str, float] = param({}, "a mapping has no ROS 2 parameter type")

    class Bad(Processor[BadParams]):
        name = "bad"
        inputs = (Port("a", "/a", "std_msgs/msg/String"),)
        outputs = ()
        Params = BadParams

    with pytest.raises(ProcessorError, match="'table'"):
        params.ros_params(Bad)


# -- field conversion (RclpyFactory) ----------------------------------------------------
def test_uint8_sequence_becomes_array_of_bytes() -> None:
    data = np.arange(12, dtype=np.uint8).reshape(2, 2, 3)
    out = fields.convert_field("sequence<uint8>", data)
    assert isinstance(out, array.array) and out.typecode == "B"
    assert out.tobytes() == data.tobytes()
    from_bytes = fields.convert_field("sequence<uint8>", b"\x01\x02\xff")
    assert isinstance(from_bytes, array.array) and list(from_bytes) == [1, 2, 255]
    view = np.arange(8, dtype=np.uint16).view(np.uint8)  # how numpy_to_image hands data over
    assert fields.convert_field("sequence<uint8>", view).tobytes() == view.tobytes()
    with pytest.raises(ConversionError, match="do not fit uint8"):
        fields.convert_field("sequence<uint8>", np.array([1, 256]), where="Image.data")


def test_byte_sequence_becomes_list_of_single_bytes() -> None:
    out = fields.convert_field("sequence<octet>", np.array([0, 7, 255], dtype=np.uint8))
    assert out == [b"\x00", b"\x07", b"\xff"]
    assert fields.convert_field("octet[2]", b"ab") == [b"a", b"b"]
    with pytest.raises(ConversionError, match="exactly 3"):
        fields.convert_field("octet[3]", b"ab")


def test_float64_fixed_array_becomes_flat_float64_ndarray() -> None:
    out = fields.convert_field("double[9]", np.eye(3, dtype=np.float32))
    assert isinstance(out, np.ndarray)
    assert out.dtype == np.float64 and out.shape == (9,)
    assert out.tolist() == [1.0, 0.0, 0.0, 0.0, 1.0, 0.0, 0.0, 0.0, 1.0]
    assert fields.convert_field("double[3]", [1, 2, 3]).tolist() == [1.0, 2.0, 3.0]
    with pytest.raises(ConversionError, match="exactly 9"):
        fields.convert_field("double[9]", np.zeros(12), where="CameraInfo.p")


def test_float_sequences_become_typed_arrays() -> None:
    d = fields.convert_field("sequence<double>", np.array([0.1, -0.2, 0.0], dtype=np.float32))
    assert isinstance(d, array.array) and d.typecode == "d"
    assert np.allclose(d, [0.1, -0.2, 0.0])
    f = fields.convert_field("sequence<float>", [1.5, 2.5])
    assert f.typecode == "f" and list(f) == [1.5, 2.5]
    assert list(fields.convert_field("sequence<double, 5>", [1.0])) == [1.0]
    with pytest.raises(ConversionError, match="at most 2"):
        fields.convert_field("sequence<double, 2>", [1.0, 2.0, 3.0])
    with pytest.raises(ConversionError, match="range of float"):
        fields.convert_field("sequence<float>", np.array([1e300]))
    i = fields.convert_field("sequence<int32>", np.array([1.0, -2.0]))
    assert i.typecode == "i" and list(i) == [1, -2]
    with pytest.raises(ConversionError, match="integers"):
        fields.convert_field("sequence<int32>", np.array([1.5]))


def test_scalars_become_python_numbers() -> None:
    sec = fields.convert_field("int32", np.int64(1_700_000_000))
    assert type(sec) is int and sec == 1_700_000_000
    assert type(fields.convert_field("double", 3)) is float
    assert type(fields.convert_field("double", np.float32(0.5))) is float
    assert fields.convert_field("uint32", 5.0) == 5
    assert fields.convert_field("boolean", np.bool_(True)) is True
    assert fields.convert_field("string", "map") == "map"
    assert fields.convert_field("octet", 65) == b"A"
    with pytest.raises(ConversionError, match="does not fit uint32"):
        fields.convert_field("uint32", -1, where="Time.nanosec")
    with pytest.raises(ConversionError, match="wants an integer"):
        fields.convert_field("int32", 1.5)
    with pytest.raises(ConversionError, match="wants a number"):
        fields.convert_field("double", "1.0")


def test_field_type_spellings() -> None:
    assert fields.parse_field_type("sequence<uint8>") == ("sequence", "uint8", None)
    assert fields.parse_field_type("sequence<double, 3>") == ("sequence", "double", 3)
    assert fields.parse_field_type("double[9]") == ("array", "double", 9)
    assert fields.parse_field_type("sequence<string<10>, 5>") == ("sequence", "string<10>", 5)
    assert fields.parse_field_type("std_msgs/Header") == ("scalar", "std_msgs/Header", None)
    nested = [object(), object()]
    assert fields.convert_field("sequence<geometry_msgs/TransformStamped>", nested) == nested


class _FakeImage:
    """Stands in for an rclpy message class: slots, setters that check types."""

    __slots__ = ("_data", "_header", "_height")
    _fields_and_field_types = {  # noqa: RUF012 - mirrors the rosidl attribute
        "header": "std_msgs/Header",
        "height": "uint32",
        "data": "sequence<uint8>",
    }

    def __init__(self, **kwargs: Any) -> None:
        assert all(f"_{k}" in self.__slots__ for k in kwargs)
        self._header = kwargs.get("header")
        self._height = kwargs.get("height", 0)
        data = kwargs.get("data", array.array("B"))
        assert isinstance(data, array.array) and data.typecode == "B"
        assert type(self._height) is int
        self._data = data

    @classmethod
    def get_fields_and_field_types(cls) -> dict[str, str]:
        return dict(cls._fields_and_field_types)


def test_rclpy_factory_converts_fields_and_refuses_unknown_ones() -> None:
    looked_up: list[str] = []

    def resolve(msgtype: str) -> type[Any]:
        looked_up.append(msgtype)
        return _FakeImage

    factory = RclpyFactory(resolve)
    msg = factory(
        "sensor_msgs/msg/Image", height=np.uint32(2), data=np.zeros((2, 3), dtype=np.uint8)
    )
    assert isinstance(msg, _FakeImage)
    assert msg._height == 2 and len(msg._data) == 6
    factory("sensor_msgs/msg/Image", height=1)
    assert looked_up == ["sensor_msgs/msg/Image"], "classes are looked up once"
    assert factory.message_class("sensor_msgs/msg/Image") is _FakeImage
    with pytest.raises(ConversionError, match="has no field 'width'"):
        factory("sensor_msgs/msg/Image", width=3)
