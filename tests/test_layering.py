"""Data flows one way (sim -> depth -> noise -> preprocess -> encoder -> policy -> runner -> metrics): no module imports
a higher layer, or a sibling package of its own layer. Every import counts, also those inside functions."""

import ast
from pathlib import Path

import pytest

PACKAGE = Path(__file__).parents[1] / "depthbench"
# Rank of each top-level name under depthbench/; a module may import only lower ranks (and its own package).
LAYERS = {
    "__init__": 0,  # __version__ only
    "errors": 0,
    "config": 1,  # YAML configs
    "files": 1,  # safe readers of user files
    "noise": 2,  # depth-sensor models: know nothing of encoders, tasks or agents
    "encoders": 2,  # depth encoders: know nothing of noise, tasks or agents
    "envs": 3,  # tasks and engines
    "agents": 4,  # rsl-rl training, evaluation, reports
    "pretrain": 4.5,  # depth datasets (harvested from envs) and encoder pretraining; uses agents' run files
    "benchmarks": 5,  # the CLI
    "__main__": 6,
}
MODULES = sorted(PACKAGE.rglob("*.py"))


def layer_of(dotted: str) -> str:
    """'depthbench.envs.navigation.pointnav' -> 'envs'; 'depthbench' -> '__init__'."""
    parts = dotted.split(".")
    return parts[1] if len(parts) > 1 else "__init__"


def module_name(path: Path) -> str:
    return ".".join(path.relative_to(PACKAGE.parent).with_suffix("").parts)


def imported_modules(source: str, module: str, is_package: bool = False) -> list[tuple[int, str]]:
    """(line, dotted module) of every depthbench import in `source` (the text of `module`), relative ones resolved."""
    package = module.split(".") if is_package else module.split(".")[:-1]
    found = []
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, ast.Import):
            found += [(node.lineno, alias.name) for alias in node.names]
        elif isinstance(node, ast.ImportFrom):
            base = package[: len(package) - node.level + 1] if node.level else []
            target = ".".join(base + ([node.module] if node.module else []))
            # `from depthbench import errors` imports the submodule: rank it by the name imported
            found += [(node.lineno, _from_target(target, a.name)) for a in node.names]
    return [(line, name) for line, name in found if name == "depthbench" or name.startswith("depthbench.")]


def _from_target(target: str, name: str) -> str:
    """The module `from target import name` loads: the submodule when `name` is one, else `target` itself."""
    submodule = PACKAGE.parent.joinpath(*target.split("."), name)
    return f"{target}.{name}" if submodule.is_dir() or submodule.with_suffix(".py").is_file() else target


def test_every_module_has_a_layer():
    unknown = {layer_of(module_name(path)) for path in MODULES} - set(LAYERS)
    assert not unknown, f"add {sorted(unknown)} to LAYERS in {__file__}"


@pytest.mark.parametrize("path", MODULES, ids=module_name)
def test_no_module_imports_a_higher_layer(path):
    source = layer_of(module_name(path))
    imports = imported_modules(path.read_text(), module_name(path), path.name == "__init__.py")
    offending = [
        f"{path.relative_to(PACKAGE.parent)}:{line} imports {name} ({layer_of(name)}, layer "
        f"{LAYERS.get(layer_of(name), '?')}) from {source} (layer {LAYERS[source]})"
        for line, name in imports
        if layer_of(name) != source and LAYERS.get(layer_of(name), 99) >= LAYERS[source]
    ]
    assert not offending, "; ".join(offending) + ": move what both need into the lower layer"


def test_the_checker_sees_lazy_relative_and_from_package_imports():
    """The rule itself: function-level, relative and from-package imports are all found, with their lines."""
    source = (
        "import numpy\n"
        "from depthbench.errors import DepthbenchError\n"
        "def f():\n"
        "    from depthbench.benchmarks.tasks_cmd import x\n"
        "    from ..agents import y\n"
        "    from . import engine\n"
        "from depthbench import config\n"
    )
    found = imported_modules(source, "depthbench.envs.navigation.pointnav")
    assert sorted(found) == [
        (2, "depthbench.errors"),
        (4, "depthbench.benchmarks.tasks_cmd"),
        (5, "depthbench.envs.agents"),  # `..` from envs/navigation/ is depthbench.envs
        (6, "depthbench.envs.navigation.engine"),
        (7, "depthbench.config"),
    ]
    higher = [name for _, name in found if LAYERS[layer_of(name)] > LAYERS["envs"]]
    assert higher == ["depthbench.benchmarks.tasks_cmd"]
