"""The frozen app's entry script: what `brushwork` (gui.app:main) runs when installed by pip."""

from gui.app import main

if __name__ == "__main__":
    raise SystemExit(main())
