"""``python -m tunesmith.report FOLDER``: rebuild an evaluation folder's report.html."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path


def main(argv: list[str] | None = None) -> int:
    """Parse arguments, write the page, print its path; 2 with a message on a bad folder."""
    p = argparse.ArgumentParser(
        prog="python -m tunesmith.report",
        description="Rebuild report.html from an evaluation folder's report.json.",
    )
    p.add_argument("folder", type=Path, help="output folder of `tunesmith evaluate`")
    p.add_argument("--no-audio", action="store_true", help="leave out the audio players")
    args = p.parse_args(argv)
    from tunesmith.report.html import REPORT_JSON, write_html

    try:
        path = write_html(args.folder, audio=not args.no_audio)
    except (OSError, ValueError) as e:  # no or bad report.json (JSONDecodeError is a ValueError)
        print(
            f"error: cannot build a report from {args.folder / REPORT_JSON}: {e}", file=sys.stderr
        )
        return 2
    print(path)
    return 0


if __name__ == "__main__":
    sys.exit(main())
