"""scripts/setup.sh installs torch's CPU build, never the CUDA build a plain ``pip install torch`` takes
from PyPI on Linux, and says what each step does.

The script runs on a copy of the scripts folder against a recording stand-in for the environment's
Python, so the test sees the exact pip commands without installing anything; the real install is what
``bash scripts/test.sh`` does on every CI run."""

from __future__ import annotations

import shutil
import stat
import subprocess
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
CPU_INDEX = "--index-url https://download.pytorch.org/whl/cpu"
# Answers every call with success except the offline install (--no-index), whose answer the test sets.
RECORDING_PYTHON = """#!/usr/bin/env bash
echo "$*" >> "{log}"
case " $* " in *" --no-index "*) exit {offline_exit};; esac
exit 0
"""


def _run_setup(tmp_path: Path, wheel_on_disk: bool, *args: str) -> tuple[list[str], str]:
    checkout = tmp_path / "checkout"
    shutil.copytree(ROOT / "scripts", checkout / "scripts")
    python = checkout / ".venv" / "bin" / "python"
    python.parent.mkdir(parents=True)
    log = tmp_path / "calls.log"
    python.write_text(RECORDING_PYTHON.format(log=log, offline_exit=0 if wheel_on_disk else 1))
    python.chmod(python.stat().st_mode | stat.S_IXUSR)
    result = subprocess.run(
        ["bash", str(checkout / "scripts" / "setup.sh"), *args], capture_output=True, text=True, check=True
    )
    return log.read_text().splitlines(), result.stdout


def _torch_installs(calls: list[str]) -> list[str]:
    return [call for call in calls if "install" in call and "torch==" in call]


@pytest.mark.parametrize("wheel_on_disk", [True, False], ids=["local-wheel", "no-local-wheel"])
def test_torch_comes_from_a_local_wheel_or_the_cpu_index(tmp_path: Path, wheel_on_disk: bool) -> None:
    calls, _ = _run_setup(tmp_path, wheel_on_disk)
    torch_installs = _torch_installs(calls)
    assert torch_installs, calls
    assert all("--no-index" in call or CPU_INDEX in call for call in torch_installs), torch_installs
    assert "--no-index" in torch_installs[0]
    assert any(CPU_INDEX in call for call in torch_installs) is not wheel_on_disk
    project_install = next(i for i, call in enumerate(calls) if call.endswith("install --quiet -e ."))
    assert project_install > calls.index(torch_installs[-1]), "torch first, then the project"


def test_setup_says_each_step_and_its_duration(tmp_path: Path) -> None:
    calls, output = _run_setup(tmp_path, False, "test")
    assert calls[-1].endswith("-e .[test]")
    steps = [line for line in output.splitlines() if line.startswith("==> ")]
    assert [step.split()[1] for step in steps] == ["upgrading", "installing", "installing"]
    assert "CPU build" in steps[1]
    assert output.count("done in ") == len(steps)
