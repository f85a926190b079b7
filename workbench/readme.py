"""The README's result tables, filled from the reports the notebooks wrote, never typed. A block

    <!-- report 05_igpg_main verdict: target, measured, met -->
    (the table, and a line naming the report's commit)
    <!-- /report -->

holds table `verdict` of reports/05_igpg_main.json, those columns in that order (all of them when none are named);
`where col=a|b; col2=c` keeps the rows whose values are among those given. `reproduce` names reports/reproduce.json,
the run of `python -m workbench.reproduce`: its table `notebooks` is the seconds, cache misses and reuses per
notebook, `run` its one row of totals. A block

    <!-- template claims -->
    <!-- /template -->

holds workbench/templates/claims.md with every `{{REPORT/TABLE[where]/COL:FORMAT}}` in it replaced by that cell of
the one row the `where` selects (`{{min …}}`, `{{max …}}`, `{{sum …}}` over the rows it selects,
`{{count REPORT/TABLE[where]}}` their number; FORMAT a Python format spec, `.2f` for a float by default): prose whose
numbers are report cells (paragraphs are re-wrapped at 120 columns, tables kept as they are).
`python -m workbench.readme` rewrites
every block from the reports; `python -m workbench.readme --check` (and tests/test_readme_tables.py) fails when a
block differs from its report, so a number in these tables is always one a report of the named commit holds.
"""
from __future__ import annotations

import argparse
import json
import re
import sys
import textwrap
from pathlib import Path

from . import io
from .reporting import markdown_table

BLOCK = re.compile(r"<!-- report (?P<report>[\w.-]+) (?P<table>\w+)(?:: (?P<cols>[^>]*?))?(?: where (?P<where>[^>]*?))? -->\n"
                   r"(?P<body>.*?)<!-- /report -->", re.S)


TEMPLATE = re.compile(r"<!-- template (?P<name>[\w-]+) -->\n(?P<body>.*?)<!-- /template -->", re.S)
VALUE = re.compile(r"\{\{(?:(?P<agg>min|max|sum|count) )?(?P<report>[\w.-]+)/(?P<table>\w+)\[(?P<where>[^\]]*)\]"
                   r"(?:/(?P<col>\w+))?(?::(?P<fmt>[^}]*))?\}\}")
TEMPLATES = Path(__file__).parent / "templates"


def _report(name: str, reports: Path) -> dict:
    path = reports / f"{name}.json"
    if not path.exists():
        raise FileNotFoundError(f"{path}: no such report; run `python -m workbench.reproduce --preset small "
                                f"notebooks/{name}.ipynb` to write it")
    rep = json.loads(path.read_text())
    if "tables" not in rep and "notebooks" in rep:     # reports/reproduce.json: the run's time table, and its totals
        rep["tables"] = {"notebooks": rep["notebooks"],
                         "run": [{k: v for k, v in rep.items() if isinstance(v, (int, float, str))}]}
    return rep


def _commit(env: dict) -> str:
    """A report's commit as blocks name it: 10 hex digits, a dirty tree marked."""
    return (env.get("git_commit") or "unknown")[:10] + (" (dirty)" if env.get("git_dirty") else "")


def _matches(row: dict, where: str | None) -> bool:
    for cond in filter(None, (c.strip() for c in (where or "").split(";"))):
        col, _, values = cond.partition("=")
        if str(row.get(col.strip())) not in {v.strip() for v in values.split("|")}:
            return False
    return True


def _rows(report: str, table: str, where: str | None, reports: Path) -> tuple[dict, list[dict]]:
    """The report and the rows of its table that `where` keeps."""
    rep = _report(report, reports)
    if table not in rep["tables"]:
        raise KeyError(f"report {report} has no table {table!r}; it has: {', '.join(rep['tables'])}")
    return rep, [r for r in rep["tables"][table] if _matches(r, where)]


def render(report: str, table: str, cols: str | None = None, where: str | None = None, *,
           reports: Path | None = None) -> str:
    """The body of one block: the selected rows and columns of the report's table, and where they come from."""
    rep, rows = _rows(report, table, where, reports or io.ROOT / "reports")
    names = [c.strip() for c in cols.split(",")] if cols else list(rows[0]) if rows else []
    missing = [c for c in names if rows and all(c not in r for r in rows)]
    if missing:
        raise KeyError(f"table {report}/{table} has no columns {missing}")
    env = rep.get("environment", {})
    commit = _commit(env)
    cold = f" (with empty caches about {rep['cold_estimate_s']} s)" if "cold_estimate_s" in rep else ""
    source = (f"_From `reports/{report}.json` ({table}): preset `{rep.get('preset')}`, commit {commit}, "
              f"{rep.get('seconds')} s{cold}, {env.get('cpu', '?')}._\n")
    return markdown_table([{c: r.get(c) for c in names} for r in rows]) + "\n" + source


def _value(m: re.Match, reports: Path) -> str:
    """One `{{…}}` of a template: a cell of the one row its `where` selects, or min / max / sum / count over the rows."""
    _, rows = _rows(m["report"], m["table"], m["where"], reports)
    if m["agg"] == "count":
        return str(len(rows))
    values = [r.get(m["col"]) for r in rows]
    if not rows or None in values or (len(rows) > 1 and not m["agg"]):
        raise LookupError(f"{m[0]}: {len(rows)} rows of {m['report']}/{m['table']} match, values {values[:4]}; "
                          f"a cell needs exactly one row with a value (min / max / sum for several)")
    v = {"min": min, "max": max, "sum": sum}[m["agg"]](values) if m["agg"] else values[0]
    return format(v, m["fmt"] if m["fmt"] is not None else ".2f" if isinstance(v, float) else "")


def _template(name: str, templates: Path | None) -> str:
    path = (templates or TEMPLATES) / f"{name}.md"
    if not path.exists():
        raise FileNotFoundError(f"{path}: no such template (the block `<!-- template {name} -->` names it)")
    return path.read_text()


def render_template(name: str, *, reports: Path | None = None, templates: Path | None = None) -> str:
    """The body of one template block: the template with its values filled in, and the reports they come from."""
    reports = reports or io.ROOT / "reports"
    text = _template(name, templates)
    used = sorted({m["report"] for m in VALUE.finditer(text)})
    envs = {_commit(_report(r, reports).get("environment", {})) for r in used}
    source = (f"_Numbers from {', '.join(f'`reports/{r}.json`' for r in used)}: commit {', '.join(sorted(envs))}._\n"
              if used else "")
    filled = VALUE.sub(lambda m: _value(m, reports), text).rstrip("\n").split("\n\n")
    paragraphs = [p if p.startswith("|") else textwrap.fill(" ".join(p.split()), 120, break_long_words=False,
                                                            break_on_hyphens=False) for p in filled]
    return "\n\n".join(paragraphs) + "\n\n" + source


def _blocks(text: str, reports: Path | None, templates: Path | None):
    """(match, its body rendered now, its name) for every report and template block of `text`."""
    for m in BLOCK.finditer(text):
        yield m, render(m["report"], m["table"], m["cols"], m["where"], reports=reports), f"{m['report']} {m['table']}"
    for m in TEMPLATE.finditer(text):
        yield m, render_template(m["name"], reports=reports, templates=templates), f"template {m['name']}"


def fill(text: str, *, reports: Path | None = None, templates: Path | None = None) -> str:
    """`text` with every report and template block re-rendered from the reports."""
    for m, body, _ in sorted(_blocks(text, reports, templates), key=lambda b: -b[0].start()):  # from the end
        text = text[:m.start("body")] + body + text[m.end("body"):]
    return text


def stale(text: str, *, reports: Path | None = None, templates: Path | None = None) -> list[str]:
    """The blocks whose body differs from what their report renders (empty: the README is up to date)."""
    return [name for m, body, name in _blocks(text, reports, templates) if m["body"] != body]


def shown(text: str, *, templates: Path | None = None) -> set[str]:
    """The reports whose numbers the README's blocks show."""
    names = {m["report"] for m in BLOCK.finditer(text)}
    for m in TEMPLATE.finditer(text):
        names |= {v["report"] for v in VALUE.finditer(_template(m["name"], templates))}
    return names


def commits(text: str, *, reports: Path | None = None, templates: Path | None = None) -> set[str]:
    """The commits (a dirty tree marked) of the reports the README's blocks show: one after one full reproduction."""
    return {_commit(_report(r, reports or io.ROOT / "reports").get("environment", {}))
            for r in shown(text, templates=templates)}


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="python -m workbench.readme", description=__doc__.split("\n\n")[0])
    p.add_argument("--check", action="store_true", help="only report blocks that differ from their reports")
    p.add_argument("--readme", default=str(io.ROOT / "README.md"))
    a = p.parse_args(argv)
    path = Path(a.readme)
    text = path.read_text()
    if a.check:
        bad = stale(text)
        n = len(BLOCK.findall(text)) + len(TEMPLATE.findall(text))
        print("\n".join(f"stale: {b}" for b in bad) or f"{n} report and template blocks up to date")
        print(f"their reports' commits: {', '.join(sorted(commits(text)))}")
        return 1 if bad else 0
    new = fill(text)
    io.atomic_write_text(path, new)
    print(f"{path}: {len(BLOCK.findall(new))} report blocks and {len(TEMPLATE.findall(new))} template blocks filled")
    return 0


if __name__ == "__main__":
    sys.exit(main())
