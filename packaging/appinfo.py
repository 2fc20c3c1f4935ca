"""Facts every packaging step shares: names, ids and the version (read from pyproject.toml).

pyproject.toml's `version` is the only place the version is written; the frozen app reads it at
run time from the package metadata the spec bundles, and `build.py` checks that both agree.
"""

from __future__ import annotations

import sys
from pathlib import Path

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover - the build needs 3.11+ or the tomli backport
    import tomli as tomllib

ROOT = Path(__file__).resolve().parent.parent
APP_NAME = "Brushwork"  # window title, .app and .exe name, one-folder directory
PACKAGE_NAME = "brushwork"  # .deb package, launcher command, icon and .desktop names
BUNDLE_ID = "org.brushwork.Brushwork"  # macOS CFBundleIdentifier
WINDOWS_APP_ID = "{D8BCDBC0-D085-41DC-9C3B-A3B4EECCECC6}"  # Inno Setup AppId: never change it
DESCRIPTION = "Desktop latent-diffusion image generator with live previews and an inpainting canvas"
ICON_PNG = ROOT / "resources" / "icons" / "brushwork.png"


def version() -> str:
    with (ROOT / "pyproject.toml").open("rb") as handle:
        return tomllib.load(handle)["project"]["version"]
