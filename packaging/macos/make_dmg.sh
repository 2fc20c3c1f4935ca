#!/usr/bin/env bash
# Makes a compressed disk image holding Brushwork.app and a link to /Applications, so users
# install by dragging. Usage: make_dmg.sh dist/Brushwork.app dist/Brushwork-<version>.dmg
# (packaging/build.py runs it on macOS). Needs hdiutil, which every macOS has.
set -euo pipefail
app=${1:?usage: make_dmg.sh path/to/Brushwork.app output.dmg}
dmg=${2:?usage: make_dmg.sh path/to/Brushwork.app output.dmg}
[ -d "$app" ] || { echo "make_dmg: $app is not a folder; build the app first" >&2; exit 2; }
command -v hdiutil >/dev/null || { echo "make_dmg: hdiutil not found (macOS only)" >&2; exit 2; }

stage=$(mktemp -d)
trap 'rm -rf "$stage"' EXIT
# ditto keeps symlinks, extended attributes and code signatures intact (cp -R may not).
ditto "$app" "$stage/$(basename "$app")"
ln -s /Applications "$stage/Applications"
rm -f "$dmg"
hdiutil create -volname Brushwork -srcfolder "$stage" -ov -format UDZO "$dmg"
echo "make_dmg: wrote $dmg"
