"""NEXTREAD_EMBEDDER_THREADS reaches torch (checked in a child process: the setting is process-wide)."""

from __future__ import annotations

import os
import subprocess
import sys

CHILD = """
import torch
from nextread.config import Settings
from nextread.embed.select import get_embedder
get_embedder(Settings(embedder_threads=1)).embed(["a dragon"])
print(torch.get_num_threads())
"""


def test_embedder_threads_setting_sets_torch_threads() -> None:
    env = {**os.environ, "HF_HUB_OFFLINE": "1"}
    result = subprocess.run(
        [sys.executable, "-c", CHILD], capture_output=True, text=True, env=env, timeout=300
    )
    assert result.returncode == 0, result.stderr[-2000:]
    assert result.stdout.strip().splitlines()[-1] == "1"
