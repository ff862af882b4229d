#!/usr/bin/env python3
"""Check that README.md's Inputs and Outputs tables list exactly the root module's variables
and outputs (variables.tf / outputs.tf), and that every required input is marked as required.

usage: scripts/check_docs.py [REPO_ROOT]      exit 0 when in sync, 1 otherwise (differences printed)
"""

from __future__ import annotations

import re
import sys
from pathlib import Path

BLOCK = re.compile(r'^(variable|output)\s+"([^"]+)"\s*\{', re.MULTILINE)
ROW = re.compile(r"^\|\s*`([^`]+)`\s*\|(.*)$")


def declared(path: Path, kind: str) -> dict[str, str]:
    """Names of the `kind` blocks in a .tf file, mapped to their block text."""
    text = path.read_text(encoding="utf-8")
    matches = [m for m in BLOCK.finditer(text) if m.group(1) == kind]
    blocks = {}
    for i, m in enumerate(matches):
        end = matches[i + 1].start() if i + 1 < len(matches) else len(text)
        blocks[m.group(2)] = text[m.start() : end]
    return blocks


def table(markdown: str, heading: str) -> dict[str, str]:
    """Rows of the table under `## heading`: first-column name (in backticks) -> rest of the row."""
    pattern = rf"^##\s+{heading}\s*$(.*?)(?=^##\s|\Z)"
    section = re.search(pattern, markdown, re.MULTILINE | re.DOTALL)
    if section is None:
        return {}
    rows = {}
    for line in section.group(1).splitlines():
        m = ROW.match(line.strip())
        if m:
            rows[m.group(1)] = m.group(2)
    return rows


def main(root: Path) -> int:
    doc = (root / "README.md").read_text(encoding="utf-8")
    errors = []
    variables = declared(root / "variables.tf", "variable")
    outputs = declared(root / "outputs.tf", "output")
    inputs_doc = table(doc, "Inputs")
    outputs_doc = table(doc, "Outputs")
    pairs = (("input", variables, inputs_doc), ("output", outputs, outputs_doc))
    for kind, code, documented in pairs:
        for name in sorted(set(code) - set(documented)):
            errors.append(f"{kind} `{name}` is declared but missing from README.md")
        for name in sorted(set(documented) - set(code)):
            errors.append(f"{kind} `{name}` is documented in README.md but not declared")
    for name, block in variables.items():
        required = re.search(r"^\s*default\s*=", block, re.MULTILINE) is None
        row = inputs_doc.get(name)
        if row is None:
            continue
        cells = row.split("|")
        says_required = len(cells) >= 2 and cells[-2].strip().lower() == "yes"
        if required != says_required:
            expected = "yes" if required else "no"
            errors.append(f"input `{name}`: the Required column must say {expected}")
    for error in errors:
        print(error, file=sys.stderr)
    if not errors:
        print(f"README.md: {len(variables)} inputs and {len(outputs)} outputs in sync")
    return 1 if errors else 0


if __name__ == "__main__":
    default_root = Path(__file__).resolve().parent.parent
    sys.exit(main(Path(sys.argv[1]) if len(sys.argv) > 1 else default_root))
