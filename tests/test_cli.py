import json
import subprocess
import sys

from depthbench.benchmarks.cli import main


def test_unknown_task_is_one_line_error(capsys):
    code = main(["bench", "env", "no-such-task"])
    err = capsys.readouterr().err.strip()
    assert code == 2
    assert err.count("\n") == 0
    assert err.startswith("depthbench: error: unknown task 'no-such-task'")


def test_tasks_list_json_is_valid(capsys):
    assert main(["tasks", "list", "--json"]) == 0
    rows = json.loads(capsys.readouterr().out)
    assert all({"name", "engine", "summary"} <= set(row) for row in rows)


def test_python_dash_m_entry_point_prints_help():
    out = subprocess.run([sys.executable, "-m", "depthbench", "--help"], capture_output=True, text=True, check=True)
    assert "usage: depthbench" in out.stdout
