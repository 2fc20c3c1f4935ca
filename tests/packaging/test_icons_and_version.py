"""Build-time icons and the single source of the version."""

import subprocess
import sys

from PIL import Image

import pipeline
from tests.packaging.conftest import load

appinfo = load("appinfo")
icons = load("icons")


def test_windows_icon_holds_every_size_explorer_asks_for(tmp_path):
    ico = icons.make_icon(appinfo.ICON_PNG, tmp_path / "brushwork.ico")
    with Image.open(ico) as image:
        assert {(16, 16), (32, 32), (48, 48), (256, 256)} <= set(image.info["sizes"])


def test_macos_icon_is_a_readable_icns(tmp_path):
    icns = icons.make_icon(appinfo.ICON_PNG, tmp_path / "brushwork.icns")
    with Image.open(icns) as image:
        assert image.format == "ICNS"
        assert (512, 512, 1) in image.info["sizes"]


def test_the_running_package_reports_pyprojects_version():
    assert pipeline.__version__ == appinfo.version()


def test_the_app_prints_pyprojects_version():
    root = appinfo.ROOT
    done = subprocess.run([sys.executable, "-m", "gui", "--version"], cwd=root,
                          capture_output=True, text=True, timeout=60)  # fmt: skip
    assert done.stdout.strip() == f"Brushwork {appinfo.version()}", done.stderr
