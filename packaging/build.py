"""The one build command: `python packaging/build.py`.

Builds the one-folder app with PyInstaller, runs its `--self-test` (the build fails if that
fails or reports another version than pyproject.toml), then makes this platform's packages:

- Linux: dist/Brushwork-<version>-linux-<arch>.tar.gz and dist/brushwork_<version>_<arch>.deb,
  then runs packaging/tests (installs the .deb into a scratch root and runs its self-test);
- Windows: dist/Brushwork-<version>-setup.exe with Inno Setup's `iscc`, if installed;
- macOS: dist/Brushwork.app and dist/Brushwork-<version>.dmg (hdiutil).

Everything goes to build/ and dist/ (both ignored by git). Times and sizes are printed at the end.
"""

from __future__ import annotations

import argparse
import os
import platform
import shutil
import subprocess
import sys
import tarfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
import appinfo
import deb_package

ROOT = appinfo.ROOT
DIST = ROOT / "dist"
BUILD = ROOT / "build"
SPEC = ROOT / "packaging" / "brushwork.spec"
SELF_TEST_TIMEOUT_S = 900  # a hang inside Qt's event loop ignores Ctrl-C: always time out


def app_folder() -> Path:
    return DIST / appinfo.APP_NAME


def frozen_executable() -> Path:
    """The executable to run: inside the .app on macOS, in the one-folder app elsewhere."""
    if sys.platform == "darwin":
        return DIST / f"{appinfo.APP_NAME}.app" / "Contents" / "MacOS" / appinfo.APP_NAME
    suffix = ".exe" if sys.platform == "win32" else ""
    return app_folder() / f"{appinfo.APP_NAME}{suffix}"


def run_pyinstaller() -> float:
    started = time.perf_counter()
    subprocess.run(
        [sys.executable, "-m", "PyInstaller", str(SPEC), "--noconfirm", "--clean",
         "--distpath", str(DIST), "--workpath", str(BUILD / "pyinstaller")],
        cwd=ROOT, check=True,
    )  # fmt: skip
    return time.perf_counter() - started


def run_self_test(executable: Path, out: Path) -> list[str]:
    """Runs the frozen app's self-test; returns its report lines or exits with its reason."""
    if out.exists():
        shutil.rmtree(out)
    env = {k: v for k, v in os.environ.items() if not k.startswith(("PYTHON", "QT_"))}
    try:
        command = [str(executable), "--self-test", "--out", str(out)]
        done = subprocess.run(
            command, env=env, capture_output=True, text=True, timeout=SELF_TEST_TIMEOUT_S
        )
    except subprocess.TimeoutExpired:
        sys.exit(f"build: the self-test of {executable} did not finish in {SELF_TEST_TIMEOUT_S} s")
    log = out / "self-test.log"  # also written by a windowed .exe, which has no stdout
    lines = log.read_text(encoding="utf-8").splitlines() if log.is_file() else []
    if done.returncode != 0:
        sys.exit(f"build: the self-test failed ({done.returncode}):\n" + "\n".join(lines)
                 + f"\n{done.stderr[-4000:]}")  # fmt: skip
    expected = f"Brushwork {appinfo.version()},"
    if not lines or expected not in lines[0]:
        sys.exit(f"build: the frozen app reports another version than pyproject.toml "
                 f"({appinfo.version()}): {lines[:1]}. Reinstall (pip install -e .) so the "
                 "package metadata it bundles is current.")  # fmt: skip
    return lines


def make_tarball(target: Path) -> Path:
    started = time.perf_counter()
    with tarfile.open(target, "w:gz", compresslevel=6) as archive:
        archive.add(app_folder(), arcname=target.name.removesuffix(".tar.gz"))
    print(f"build: {target.name} in {time.perf_counter() - started:.0f} s")
    return target


def package_linux(version: str) -> list[Path]:
    arch = deb_package.deb_architecture()
    machine = platform.machine().lower()
    tarball = make_tarball(DIST / f"{appinfo.APP_NAME}-{version}-linux-{machine}.tar.gz")
    staging = deb_package.lay_out(
        app_folder(), BUILD / "deb-root", version=version, executable=appinfo.APP_NAME,
        name=appinfo.APP_NAME, description=appinfo.DESCRIPTION, icon_png=appinfo.ICON_PNG,
        arch=arch,
    )  # fmt: skip
    started = time.perf_counter()
    deb = deb_package.build_deb(staging, DIST / f"{appinfo.PACKAGE_NAME}_{version}_{arch}.deb")
    shutil.rmtree(staging)
    print(f"build: {deb.name} in {time.perf_counter() - started:.0f} s")
    return [tarball, deb]


def package_windows(version: str) -> list[Path]:
    iscc = shutil.which("iscc") or shutil.which("ISCC")
    default = Path(os.environ.get("PROGRAMFILES(X86)", "C:/Program Files (x86)"))
    default = default / "Inno Setup 6" / "ISCC.exe"
    iscc = iscc or (str(default) if default.is_file() else None)
    if iscc is None:
        print("build: Inno Setup (iscc) not found; the one-folder app is in dist/Brushwork. "
              "Install Inno Setup 6 to get the setup.exe.")  # fmt: skip
        return []
    from icons import make_icon

    icon = make_icon(appinfo.ICON_PNG, BUILD / "brushwork.ico")
    subprocess.run(
        [iscc, f"/DAppVersion={version}", f"/DAppId={appinfo.WINDOWS_APP_ID}",
         f"/DSourceDir={app_folder()}", f"/DIconFile={icon}", f"/DOutputDir={DIST}",
         str(ROOT / "packaging" / "windows" / "brushwork.iss")],
        check=True,
    )  # fmt: skip
    return [DIST / f"{appinfo.APP_NAME}-{version}-setup.exe"]


def package_macos(version: str) -> list[Path]:
    dmg = DIST / f"{appinfo.APP_NAME}-{version}.dmg"
    script = ROOT / "packaging" / "macos" / "make_dmg.sh"
    subprocess.run(["bash", str(script), str(DIST / f"{appinfo.APP_NAME}.app"), str(dmg)],
                   check=True)  # fmt: skip
    return [dmg]


def regular_files(folder: Path) -> list[Path]:
    """Files, not the symlinks PyInstaller adds beside some libraries (they would count twice)."""
    return [p for p in folder.rglob("*") if p.is_file() and not p.is_symlink()]


def size_mib(path: Path) -> float:
    files = [path] if path.is_file() else regular_files(path)
    return sum(p.stat().st_size for p in files) / 2**20


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--skip-pyinstaller", action="store_true",
                        help="package the app already in dist/ (after a build)")  # fmt: skip
    args = parser.parse_args(argv)
    version = appinfo.version()
    build_s = None if args.skip_pyinstaller else run_pyinstaller()
    lines = run_self_test(frozen_executable(), BUILD / "self-test")
    print("\n".join(lines))
    packagers = {"linux": package_linux, "win32": package_windows, "darwin": package_macos}
    started = time.perf_counter()
    packages = packagers.get(sys.platform, lambda _v: [])(version)
    package_s = time.perf_counter() - started
    if sys.platform == "linux":
        tests = ROOT / "packaging" / "tests"
        subprocess.run([sys.executable, "-m", "pytest", str(tests), "-q", "-p", "no:cacheprovider"],
                       cwd=ROOT, check=True)  # fmt: skip
    print(f"\nBrushwork {version} for {sys.platform}/{platform.machine()}")
    if build_s is not None:
        print(f"PyInstaller build: {build_s:.0f} s")
    print(f"packaging: {package_s:.0f} s")
    app_size = size_mib(app_folder())
    files = len(regular_files(app_folder()))
    print(f"one-folder app: {app_size:.0f} MiB, {files} files ({app_folder()})")
    for package in packages:
        print(f"{package.name}: {size_mib(package):.0f} MiB")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
