"""A normal (non-editable) install carries the bundled architectures and finds them by name."""

import subprocess
import sys
import zipfile
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]

pytest.importorskip("hatchling")


@pytest.fixture(scope="module")
def wheel(tmp_path_factory):
    out = tmp_path_factory.mktemp("wheel")
    subprocess.run(
        [sys.executable, "-m", "pip", "wheel", "--no-deps", "--no-build-isolation", "-q", "-w", str(out), str(ROOT)],
        check=True,
        capture_output=True,
        timeout=300,
    )
    (found,) = out.glob("cnnctl-*.whl")
    return found


def test_wheel_contains_every_bundled_architecture(wheel):
    names = set(zipfile.ZipFile(wheel).namelist())
    for path in (ROOT / "architectures").glob("*.yaml"):
        assert f"cnnctl/architectures/{path.name}" in names
    assert "cnnctl/cli/__init__.py" in names


def test_installed_wheel_resolves_bundled_names_from_any_directory(wheel, tmp_path):
    target = tmp_path / "site"
    subprocess.run(
        [sys.executable, "-m", "pip", "install", "--no-deps", "-q", "--target", str(target), str(wheel)],
        check=True,
        capture_output=True,
        timeout=300,
    )
    code = "import cnnctl; g = cnnctl.load('vgg16.yaml'); print(cnnctl.__file__); print(g.params)"
    env = {"PYTHONPATH": str(target), "PATH": "/usr/bin:/bin"}
    out = subprocess.run([sys.executable, "-c", code], cwd=tmp_path, env=env, capture_output=True, text=True)
    assert out.returncode == 0, out.stderr
    location, params = out.stdout.split()
    assert location.startswith(str(target))  # the installed copy, not the source tree
    assert int(params) == 138_357_544
