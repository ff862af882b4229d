#!/usr/bin/env python3
"""Generate the module's reference tables in README.md, in terraform-docs' markdown layout.

Between `<!-- BEGIN_TF_DOCS -->` and `<!-- END_TF_DOCS -->` README.md holds the Requirements,
Providers, Modules, Resources, Inputs and Outputs tables of the root module, as terraform-docs
(`markdown table`) writes them. They are generated from the .tf files by a small HCL-aware reader
(strings, interpolations, heredocs, comments, nested brackets), so the tables cannot drift:
`make lint` runs the check mode, `make docs` writes. It also writes the measured tables of the
topic documents: docs/iam.md (docs/iam-usage.json) and docs/reliability.md (faults-results.json).

usage: scripts/docs.py [--check] [ROOT]    --check: exit 1 (and show a diff) if a table is stale
"""

from __future__ import annotations

import argparse
import difflib
import json
import re
import sys
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

BEGIN = "<!-- BEGIN_TF_DOCS -->"
END = "<!-- END_TF_DOCS -->"
REGISTRY = "https://registry.terraform.io/providers"
IDENT = re.compile(r"[A-Za-z_][A-Za-z0-9_-]*")
HEREDOC = re.compile(r"<<(-?)([A-Za-z_][A-Za-z0-9_]*)\n")


# ---- A small HCL reader -------------------------------------------------------------------------
def _skip_string(text: str, i: int) -> int:
    """`text[i]` is the opening quote of a template string: return the index after its closing
    quote (escapes and ${...}/%{...} interpolations, which may hold strings of their own)."""
    i += 1
    while i < len(text):
        c = text[i]
        if c == "\\":
            i += 2
            continue
        if c == '"':
            return i + 1
        if c in "$%" and text.startswith("{", i + 1):
            i = _skip_brackets(text, i + 1)
            continue
        i += 1
    raise ValueError("unterminated string")


def _skip_brackets(text: str, i: int) -> int:
    """`text[i]` is an opening bracket ({, [ or (): return the index after the matching one."""
    pairs = {"{": "}", "[": "]", "(": ")"}
    stack = [pairs[text[i]]]
    i += 1
    while stack:
        if i >= len(text):
            raise ValueError("unbalanced brackets")
        j = _skip_trivia(text, i, newlines=True)
        if j != i:
            i = j
            continue
        c = text[i]
        if c == '"':
            i = _skip_string(text, i)
        elif (m := HEREDOC.match(text, i)) is not None:
            i = _skip_heredoc(text, m)
        elif c in pairs:
            stack.append(pairs[c])
            i += 1
        elif c == stack[-1]:
            stack.pop()
            i += 1
        else:
            i += 1
    return i


def _skip_heredoc(text: str, m: re.Match) -> int:
    end = re.compile(rf"^[ \t]*{re.escape(m.group(2))}[ \t]*$", re.MULTILINE)
    close = end.search(text, m.end())
    if close is None:
        raise ValueError(f"unterminated heredoc {m.group(2)}")
    return close.end()


def _skip_trivia(text: str, i: int, *, newlines: bool) -> int:
    """Skip blanks and comments from `i` (newlines too when `newlines`)."""
    while i < len(text):
        c = text[i]
        if c in " \t\r" or (newlines and c == "\n"):
            i += 1
        elif c == "#" or text.startswith("//", i):
            nl = text.find("\n", i)
            i = len(text) if nl < 0 else (nl + 1 if newlines else nl)
        elif text.startswith("/*", i):
            close = text.find("*/", i + 2)
            i = len(text) if close < 0 else close + 2
        else:
            break
    return i


def _expression_end(text: str, i: int) -> int:
    """End of the expression starting at `i`: the first newline outside brackets and strings."""
    while i < len(text):
        c = text[i]
        if c == "\n":
            return i
        if c == '"':
            i = _skip_string(text, i)
        elif (m := HEREDOC.match(text, i)) is not None:
            i = _skip_heredoc(text, m)
        elif c in "{[(":
            i = _skip_brackets(text, i)
        elif c == "#" or text.startswith("//", i):
            nl = text.find("\n", i)
            return len(text) if nl < 0 else nl
        elif text.startswith("/*", i):
            close = text.find("*/", i + 2)
            i = len(text) if close < 0 else close + 2
        else:
            i += 1
    return i


@dataclass
class Block:
    """A block: its type, labels, attributes (name -> expression text) and nested blocks."""

    type: str
    labels: list[str]
    attributes: dict[str, str] = field(default_factory=dict)
    blocks: list[Block] = field(default_factory=list)


def parse(text: str) -> list[Block]:
    """The blocks of a body (a whole file, or the inside of a block's braces)."""
    return _parse_body(text, 0, len(text))[1]


def _parse_body(text: str, i: int, end: int) -> tuple[dict[str, str], list[Block]]:
    attributes: dict[str, str] = {}
    blocks: list[Block] = []
    while True:
        i = _skip_trivia(text, i, newlines=True)
        if i >= end:
            return attributes, blocks
        m = IDENT.match(text, i)
        if m is None:
            raise ValueError(f"unexpected {text[i : i + 20]!r} at offset {i}")
        name, i = m.group(0), _skip_trivia(text, m.end(), newlines=False)
        if text.startswith("=", i) and not text.startswith("==", i):
            start = _skip_trivia(text, i + 1, newlines=False)
            stop = _expression_end(text, start)
            attributes[name] = text[start:stop].strip()
            i = stop
            continue
        labels = []
        while text[i] == '"':
            close = _skip_string(text, i)
            labels.append(text[i + 1 : close - 1])
            i = _skip_trivia(text, close, newlines=False)
        if text[i] != "{":
            raise ValueError(f"expected a block after {name!r} at offset {i}")
        close = _skip_brackets(text, i)
        inner_attributes, inner_blocks = _parse_body(text, i + 1, close - 1)
        blocks.append(Block(name, labels, inner_attributes, inner_blocks))
        i = close


def string_value(expression: str) -> str:
    """The value of a string literal (quoted or heredoc); other expressions as written."""
    if (m := HEREDOC.match(expression + "\n")) is not None:
        body = expression[m.end() :].rsplit("\n", 1)[0]
        return body.strip()
    if expression.startswith('"') and expression.endswith('"'):
        body = expression[1:-1]
        escapes = {"n": "\n", "t": "\t", '"': '"', "\\": "\\", "r": "\r"}
        return re.sub(r"\\(.)", lambda m: escapes.get(m.group(1), m.group(0)), body)
    return expression


def load(directory: Path) -> list[Block]:
    """Every top-level block of the .tf files of one module directory, files in name order."""
    blocks: list[Block] = []
    for path in sorted(directory.glob("*.tf")):
        try:
            blocks += parse(path.read_text(encoding="utf-8"))
        except ValueError as exc:
            raise ValueError(f"{path}: {exc}") from None
    return blocks


# ---- terraform-docs' markdown -------------------------------------------------------------------
def _anchor(kind: str, name: str) -> str:
    escaped = name.replace("_", "\\_")
    return f'<a name="{kind}_{name}"></a> [{name}](#{kind}\\_{escaped})'


def _cell(text: str) -> str:
    """A table cell: one line, pipes escaped, < and > as entities (not read as HTML tags)."""
    return " ".join(text.split()).replace("|", "\\|").replace("<", "&lt;").replace(">", "&gt;")


def _code(expression: str) -> str:
    """An expression as terraform-docs shows it: `x` on one line, <pre> across lines."""
    lines = [line.rstrip() for line in expression.strip().splitlines()]
    if len(lines) == 1:
        return f"`{lines[0]}`"
    dedent = min((len(x) - len(x.lstrip()) for x in lines[1:] if x.strip()), default=0)
    shown = [lines[0]] + [x[max(0, dedent - 2) :] for x in lines[1:]]
    return "<pre>" + "<br/>".join(x.replace("|", "\\|") for x in shown) + "</pre>"


def render(root: Path) -> str:
    blocks = load(root)
    terraform = [b for b in blocks if b.type == "terraform"]
    required_version = next(
        (
            string_value(b.attributes["required_version"])
            for b in terraform
            if "required_version" in b.attributes
        ),
        None,
    )
    providers: dict[str, tuple[str, str]] = {}  # name -> (source, version)
    for b in terraform:
        for rp in (x for x in b.blocks if x.type == "required_providers"):
            for name, expression in rp.attributes.items():
                source = re.search(r'source\s*=\s*"([^"]+)"', expression)
                version = re.search(r'version\s*=\s*"([^"]+)"', expression)
                providers[name] = (
                    source.group(1) if source else f"hashicorp/{name}",
                    version.group(1) if version else "n/a",
                )

    resources = sorted(
        (b for b in blocks if b.type in ("resource", "data")),
        key=lambda b: (b.type == "data", b.labels[0], b.labels[1]),
    )
    used = {b.labels[0].split("_", 1)[0] for b in resources}
    if "terraform" in used:  # terraform_data: the built-in provider
        providers.setdefault("terraform", ("terraform.io/builtin/terraform", "n/a"))

    out = ["## Requirements", "", "| Name | Version |", "|------|---------|"]
    if required_version:
        out.append(f"| {_anchor('requirement', 'terraform')} | {required_version} |")
    for name, (_, version) in sorted(providers.items()):
        if name != "terraform":
            out.append(f"| {_anchor('requirement', name)} | {version} |")

    out += ["", "## Providers", "", "| Name | Version |", "|------|---------|"]
    for name, (_, version) in sorted(providers.items()):
        if name in used:
            out.append(f"| {_anchor('provider', name)} | {version} |")

    modules = sorted((b for b in blocks if b.type == "module"), key=lambda b: b.labels[0])
    out += ["", "## Modules", ""]
    if modules:
        out += ["| Name | Source | Version |", "|------|--------|---------|"]
        for b in modules:
            version = string_value(b.attributes["version"]) if "version" in b.attributes else "n/a"
            source = string_value(b.attributes["source"])
            out.append(f"| {_anchor('module', b.labels[0])} | {source} | {version} |")
    else:
        out.append("No modules.")

    out += ["", "## Resources", "", "| Name | Type |", "|------|------|"]
    for b in resources:
        kind, name = b.labels
        provider, short = kind.split("_", 1)
        source = providers.get(provider, (f"hashicorp/{provider}", ""))[0]
        if provider == "terraform":
            source = "hashicorp/terraform"
        namespace = "resources" if b.type == "resource" else "data-sources"
        prefix = "" if b.type == "resource" else "data."
        url = f"{REGISTRY}/{source}/latest/docs/{namespace}/{short}"
        label = "resource" if b.type == "resource" else "data source"
        out.append(f"| [{prefix}{kind}.{name}]({url}) | {label} |")

    variables = sorted((b for b in blocks if b.type == "variable"), key=lambda b: b.labels[0])
    out += [
        "",
        "## Inputs",
        "",
        "| Name | Description | Type | Default | Required |",
        "|------|-------------|------|---------|:--------:|",
    ]
    for b in variables:
        description = _cell(string_value(b.attributes.get("description", '""')))
        type_ = _code(b.attributes.get("type", "any"))
        required = "default" not in b.attributes
        default = "n/a" if required else _code(b.attributes["default"])
        out.append(
            f"| {_anchor('input', b.labels[0])} | {description} | {type_} | {default} | "
            f"{'yes' if required else 'no'} |"
        )

    outputs = sorted((b for b in blocks if b.type == "output"), key=lambda b: b.labels[0])
    out += ["", "## Outputs", "", "| Name | Description |", "|------|-------------|"]
    for b in outputs:
        description = _cell(string_value(b.attributes.get("description", '""')))
        out.append(f"| {_anchor('output', b.labels[0])} | {description} |")
    return "\n".join(out) + "\n"


def update(readme: str, tables: str) -> str:
    """README text with the generated section replaced (markers must be there, once)."""
    if (
        readme.count(BEGIN) != 1
        or readme.count(END) != 1
        or readme.index(BEGIN) > readme.index(END)
    ):
        raise ValueError(f"README.md must hold {BEGIN} ... {END} once")
    head, rest = readme.split(BEGIN, 1)
    _, tail = rest.split(END, 1)
    return f"{head}{BEGIN}\n{tables}{END}{tail}"


IAM_BEGIN = "<!-- BEGIN_IAM_USAGE -->"
IAM_END = "<!-- END_IAM_USAGE -->"


def render_iam_usage(root: Path) -> str | None:
    """The least-privilege table of docs/iam.md, from docs/iam-usage.json (written by
    `make iam-report` from the last integration run's IAM decisions), or None without it."""
    path = root / "docs" / "iam-usage.json"
    if not path.exists():
        return None
    usage = json.loads(path.read_text(encoding="utf-8"))
    lines = [
        "| role | statement | used by the tests | granted, never used by a test |",
        "|---|---|---|---|",
    ]
    for kind, grants in sorted(usage.items()):
        for grant in grants:
            used = ", ".join(f"`{a}`" for a in grant["used"]) or "-"
            unused = ", ".join(f"`{a}`" for a in grant["unused"]) or "-"
            lines.append(f"| {kind} | {grant['sid']} | {used} | {unused} |")
    return "\n".join(lines) + "\n"


def update_iam_usage(readme: str, table: str | None) -> str:
    return update_section(readme, IAM_BEGIN, IAM_END, table)


FAULTS_BEGIN = "<!-- BEGIN_FAULTS -->"
FAULTS_END = "<!-- END_FAULTS -->"


def render_faults(root: Path) -> str | None:
    """The fault matrix of docs/reliability.md, from docs/faults-results.json (the last
    `make test-faults`, copied by `make faults-readme`), or None without it."""
    path = root / "docs" / "faults-results.json"
    if not path.exists():
        return None
    results = json.loads(path.read_text(encoding="utf-8"))
    lines = [
        f"Measured by `make test-faults` on {results['date']} at commit `{results['commit']}`:"
        f" {results['pairs']} (caller, operation) pairs recorded in a seed episode,"
        f" {results['runs']} runs, {results['lost']} messages lost, {results['silent']} silent"
        f" opens, {results['failed']} broken promises."
        + (f" {results['note']}" if results.get("note") else ""),
        "",
        "| fault | mode | calls failed | end | close reason, or why it stays open | close (s) |"
        " lost | duplicates |",
        "|---|---|--:|---|---|--:|--:|--:|",
    ]
    for r in results["rows"]:
        reason = _cell(r["reason"])[:90]
        then = str(r.get("detail") or "").split(";", 1)[0]
        if then.startswith(("closed by itself", "still open")):  # once the fault was removed
            reason += f" (then {then})"
        close = "" if r["seconds_to_close"] is None else f"{r['seconds_to_close']:.0f}"
        end = r["end"] + (f" ({r['problem']})" if r.get("problem") else "")
        lines.append(
            f"| {_cell(r['fault'])} | {r['mode']} | {r['injected']} | {_cell(end)} | {reason} |"
            f" {close} | {r['lost']} | {r['duplicates']} |"
        )
    return "\n".join(lines) + "\n"


def update_section(readme: str, begin: str, end: str, body: str | None) -> str:
    """Text with the section between the markers replaced by body (None: left alone)."""
    if body is None:
        return readme
    if readme.count(begin) != 1 or readme.count(end) != 1:
        raise ValueError(f"must hold {begin} ... {end} once")
    head, rest = readme.split(begin, 1)
    _, tail = rest.split(end, 1)
    return f"{head}{begin}\n{body}{end}{tail}"


def generated(root: Path) -> dict[str, Callable[[str], str]]:
    """Each file with generated sections, and how to bring its text up to date."""
    return {
        "README.md": lambda text: update(text, render(root)),
        "docs/iam.md": lambda text: update_iam_usage(text, render_iam_usage(root)),
        "docs/reliability.md": lambda text: update_section(
            text, FAULTS_BEGIN, FAULTS_END, render_faults(root)
        ),
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--check", action="store_true", help="fail if a generated table is stale")
    parser.add_argument("root", nargs="?", type=Path, default=Path(__file__).resolve().parents[1])
    args = parser.parse_args(argv)
    stale = 0
    for name, bring_up_to_date in generated(args.root).items():
        path = args.root / name
        # A topic document may be absent where its measured data is too (a fresh module tree).
        current = path.read_text(encoding="utf-8") if path.exists() or name == "README.md" else ""
        try:
            wanted = bring_up_to_date(current)
        except ValueError as exc:
            print(f"docs: {name} {exc}", file=sys.stderr)
            return 1
        if wanted == current:
            if current:
                print(f"{name}: the generated tables are up to date")
            continue
        if args.check:
            diff = difflib.unified_diff(
                current.splitlines(), wanted.splitlines(), name, "generated", lineterm="", n=0
            )
            print("\n".join(list(diff)[:60]), file=sys.stderr)
            print(f"{name} is stale: run `make docs`", file=sys.stderr)
            stale += 1
            continue
        path.write_text(wanted, encoding="utf-8")
        print(f"{name}: generated tables written")
    return 1 if stale else 0


if __name__ == "__main__":
    sys.exit(main())
