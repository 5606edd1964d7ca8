"""Run the security and fault suites and print every figure they assert into the table of
docs/security.md (between its ``figures`` markers).

Usage: .venv/bin/python scripts/security_figures.py [pytest arguments]
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
DOC = ROOT / "docs" / "security.md"
START, END = "<!-- figures: start -->", "<!-- figures: end -->"


def table(figures: list[dict[str, str]]) -> str:
    rows = ["| check | measured | promise | test |", "|---|---|---|---|"]
    for f in figures:
        test = f["test"].split("::", 1)
        rows.append(f"| {f['what']} | {f['value']} | {f['promise']} | "
                    f"`{Path(test[0]).name}::{test[1]}` |")
    return "\n".join(rows)


def main() -> int:
    with tempfile.TemporaryDirectory() as tmp:
        out = Path(tmp) / "figures.json"
        run = subprocess.run(
            [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", "tests/security",
             "tests/faults", *sys.argv[1:]],
            cwd=ROOT, env={**os.environ, "COVIEW_FIGURES": str(out)}, check=False)
        figures = json.loads(out.read_text()) if out.exists() else []
    if not figures:
        print("no figures were recorded", file=sys.stderr)
        return 1
    text = DOC.read_text()
    head, rest = text.split(START, 1)
    _, tail = rest.split(END, 1)
    status = "all checks passed" if run.returncode == 0 else "SOME CHECKS FAILED"
    DOC.write_text(f"{head}{START}\n{table(figures)}\n\n({len(figures)} figures; {status})\n"
                   f"{END}{tail}")
    print(table(figures))
    return run.returncode


if __name__ == "__main__":
    sys.exit(main())
