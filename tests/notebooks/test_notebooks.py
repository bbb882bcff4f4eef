"""CI executes every notebook in ``notebooks/`` against generated data, with a kernel that is
this virtual environment's Python (a kernel spec made in a temporary folder: nothing is
registered on the machine), and fails on any cell error."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import nbformat
import pytest
from jupyter_client.kernelspec import KernelSpecManager
from jupyter_client.manager import KernelManager
from nbclient import NotebookClient

NOTEBOOKS = sorted((Path(__file__).parents[2] / "notebooks").glob("*.ipynb"))
KERNEL = "growthos-test-venv"

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def generated(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A data folder made as an analyst would: ``growthos demo --no-serve``."""
    data_dir = tmp_path_factory.mktemp("notebooks") / "data"
    growthos = Path(sys.executable).with_name("growthos")
    done = subprocess.run(
        [str(growthos), "demo", "--no-serve", "--data-dir", str(data_dir), "--users", "200"],
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    assert json.loads(done.stdout)["sample_events"] > 1000
    return data_dir


@pytest.fixture(scope="module")
def kernels(tmp_path_factory: pytest.TempPathFactory) -> KernelSpecManager:
    """A kernel spec running this interpreter, in a folder of its own."""
    folder = tmp_path_factory.mktemp("kernels")
    spec = folder / KERNEL
    spec.mkdir()
    (spec / "kernel.json").write_text(
        json.dumps(
            {
                "argv": [sys.executable, "-m", "ipykernel_launcher", "-f", "{connection_file}"],
                "display_name": "GrowthOS test venv",
                "language": "python",
            }
        )
    )
    return KernelSpecManager(kernel_dirs=[str(folder)])


def test_every_notebook_is_here() -> None:
    names = {path.name for path in NOTEBOOKS}
    assert {
        "quickstart.ipynb",
        "funnels_and_retention.ipynb",
        "raw_lake.ipynb",
        "experiments.ipynb",
    } <= names


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.stem)
def test_notebook_runs(
    path: Path,
    generated: Path,
    kernels: KernelSpecManager,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    committed = nbformat.read(path, as_version=4)
    assert all(
        not cell.get("outputs") and cell.get("execution_count") is None
        for cell in committed.cells
        if cell.cell_type == "code"
    ), f"{path.name} is committed with outputs: clear them"
    monkeypatch.setenv("GROWTHOS_NOTEBOOK_DATA_DIR", str(generated))
    monkeypatch.setenv("JUPYTER_PLATFORM_DIRS", "1")
    monkeypatch.setenv("PYDEVD_DISABLE_FILE_VALIDATION", "1")
    manager = KernelManager(kernel_name=KERNEL, kernel_spec_manager=kernels)
    client = NotebookClient(
        committed,
        km=manager,
        timeout=300,
        allow_errors=False,
        resources={"metadata": {"path": str(tmp_path)}},
    )
    executed = client.execute()
    outputs = [o for cell in executed.cells if cell.cell_type == "code" for o in cell.outputs]
    assert not [o for o in outputs if o.output_type == "error"]
    # the figures render as Plotly figures in the notebook
    assert path.stem == "raw_lake" or any(
        "application/vnd.plotly.v1+json" in o.get("data", {}) for o in outputs
    )
    assert os.environ["GROWTHOS_NOTEBOOK_DATA_DIR"] == str(generated)
