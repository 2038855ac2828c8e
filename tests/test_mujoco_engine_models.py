"""Per-env models in the batched MuJoCo engine: each env simulates and sees its own compiled geometry."""

import numpy as np
import pytest
from test_mujoco_engine import BOX_HALF, CAMERA_HEIGHT_M, _camera, _expected_depth, _scene

from depthbench.envs.mujoco_engine import BatchedMujoco
from depthbench.errors import DepthbenchError


def test_each_env_sees_its_own_model_and_expanded_fields_are_refused():
    camera = _camera()
    engine = BatchedMujoco(_scene(), num_envs=3, decimation=4, cameras=[camera], per_env_models=True)
    taller = _scene()
    box = taller.body("box")
    box.pos = [box.pos[0], box.pos[1], 2 * BOX_HALF[2]]
    box.geoms[0].size = [BOX_HALF[0], BOX_HALF[1], 2 * BOX_HALF[2]]  # top at 4 half-heights instead of 2
    engine.set_models(np.array([1]), [engine.compile_variant(taller)])
    engine.reset(np.array([1]))
    for _ in range(2):  # also after control steps, where sensors are switched off during the substeps
        depth = engine.depth()
        expected = _expected_depth(camera)
        on_box = expected < CAMERA_HEIGHT_M
        np.testing.assert_allclose(depth[0, 0], expected, atol=1e-5)
        np.testing.assert_allclose(depth[2, 0], expected, atol=1e-5)
        np.testing.assert_allclose(depth[1, 0][on_box].max(), CAMERA_HEIGHT_M - 4 * BOX_HALF[2], atol=1e-5)
        engine.step()
    with pytest.raises(DepthbenchError, match="per-env models"):
        engine.expand("body_mass")
    with pytest.raises(DepthbenchError, match="per_env_models=True"):
        BatchedMujoco(_scene(), num_envs=1, decimation=1).set_models(np.array([0]), [engine.model])
