import os

import mujoco
import pytest

from depthbench.envs.menagerie import robot_xml
from depthbench.errors import DepthbenchError

needs_local_models = pytest.mark.skipif(
    not os.environ.get("MENAGERIE_ROOT"), reason="set MENAGERIE_ROOT to a local Menagerie copy (CI does)"
)


@needs_local_models
@pytest.mark.parametrize(("name", "nu"), [("anybotics_anymal_c", 12), ("kuka_iiwa_14", 7), ("wonik_allegro", 16)])
def test_models_compile_offline(name, nu):
    model = mujoco.MjModel.from_xml_path(str(robot_xml(name)))
    assert model.nu == nu


def test_missing_model_names_both_options(tmp_path, monkeypatch):
    monkeypatch.setenv("MENAGERIE_ROOT", str(tmp_path))
    with pytest.raises(DepthbenchError, match=r"kuka_iiwa_14.*download.*MENAGERIE_ROOT"):
        robot_xml("kuka_iiwa_14")


def test_unknown_robot_is_clear():
    with pytest.raises(DepthbenchError, match="no_such_robot"):
        robot_xml("no_such_robot")
