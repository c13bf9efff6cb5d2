"""Output formats of a scan: text, json, csv, html (Jinja2, autoescaped) and xlsx (openpyxl).

Every format carries the same findings and summary. JSON lists every line; text, HTML, CSV and
the xlsx "Findings" sheet group them per file and rule with counts (harness.scan.grouping), and
the xlsx "Lines" sheet keeps every line for filtering. HTML and xlsx add the ELF table. Text and
HTML headings are bilingual, as the report goes to porting teams and their managers. Every text
that reaches a format is made printable first (file names that are not UTF-8, control bytes).
"""

from __future__ import annotations

import io
import json
from collections.abc import Callable
from pathlib import Path

from harness.core.errors import InputError
from harness.core.spreadsheet import csv_text, xlsx_append
from harness.scan.grouping import group_findings
from harness.scan.model import FINDING_FIELDS, SEVERITIES, ScanReport, printable
from harness.scan.rules import RULES

FORMATS = ("text", "json", "csv", "html", "xlsx")
GROUP_FIELDS = ("severity", "rule", "file", "count", "lines", "snippet", "suggestion")


def render(report: ScanReport, fmt: str) -> str | bytes:
    if fmt not in FORMATS:
        raise InputError(f"--format {fmt!r}: expected one of {', '.join(FORMATS)}")
    writers: dict[str, Callable[[ScanReport], str | bytes]] = {
        "text": to_text, "json": to_json, "csv": to_csv, "html": to_html, "xlsx": to_xlsx}
    return writers[fmt](report)


def to_json(report: ScanReport) -> str:
    return json.dumps(_json_safe(report.to_dict()), indent=2, ensure_ascii=False) + "\n"


def _json_safe(value: object) -> object:
    """Strings as valid UTF-8 (JSON escapes control characters itself)."""
    if isinstance(value, str):
        return printable(value, controls=False)
    if isinstance(value, dict):
        return {_json_safe(k): _json_safe(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_json_safe(v) for v in value]
    return value


def _printable(text: object) -> str:
    return printable(str(text))


def _group_rows(report: ScanReport) -> list[dict[str, object]]:
    return [{"severity": g.severity, "rule": g.rule, "file": _printable(g.file), "count": g.count,
             "lines": g.line_list(shown=10_000), "snippet": _printable(g.snippet),
             "suggestion": _printable(g.suggestion)} for g in group_findings(report.findings)]


def to_csv(report: ScanReport) -> str:
    """One row per file and rule: severity, rule, file, count, lines, first snippet, suggestion."""
    return csv_text(_group_rows(report), list(GROUP_FIELDS))


def to_text(report: ScanReport) -> str:
    from tabulate import tabulate

    summary = report.summary()
    lines = [f"xch scan: {report.root}  (target {report.target_arch}"
             + (f", {report.target_os} glibc {report.target_glibc}" if report.target_os else "") + ")",
             f"files scanned / 扫描文件: {summary['files_scanned']}   findings / 问题: {summary['findings']}   "
             + "   ".join(f"{s}: {summary['by_severity'][s]}" for s in SEVERITIES)
             + f"   effort / 工作量: ~{summary['effort_total_hours']} h", ""]
    rows = [[g.severity, g.rule, _printable(g.file), g.count, g.line_list(), _printable(g.snippet)[:70]]
            for g in group_findings(report.findings)]
    if rows:
        lines.append(tabulate(rows, headers=["severity", "rule", "file", "n", "lines", "first snippet"],
                              tablefmt="simple", disable_numparse=True))
    if summary["by_rule"]:
        lines += ["", "per rule / 按规则:"]
        lines += [f"  {rule_id:24} {count:6}  {RULES[rule_id].title}" for rule_id, count in summary["by_rule"].items()]
    if summary["effort_by_file"]:
        lines += ["", "effort per file (hours, estimate) / 每个文件的工作量估计（小时）:"]
        worst = sorted(summary["effort_by_file"].items(), key=lambda kv: -kv[1]["hours"])
        lines += [f"  {v['hours']:7.1f}  {v['size']:8} {_printable(k)}" for k, v in worst[:30]]
        if len(worst) > 30:
            lines.append(f"  … {len(worst) - 30} more files")
    if report.binaries:
        lines += ["", "ELF files / 二进制文件:"]
        brows = [[_printable(b.file), b.machine, b.elf_type, b.glibc_floor or "-",
                  "" if b.arch_ok is None else ("ok" if b.arch_ok else "WRONG ARCH"),
                  "" if b.glibc_ok is None else ("ok" if b.glibc_ok else "GLIBC TOO NEW")] for b in report.binaries]
        lines.append(tabulate(brows, headers=["file", "machine", "type", "glibc floor", "arch", "glibc"],
                              tablefmt="simple"))
    for note in summary["notes"]:
        lines.append(f"note: {_printable(note)}")
    return "\n".join(lines) + "\n"


def to_html(report: ScanReport) -> str:
    from jinja2 import Environment, FileSystemLoader, select_autoescape

    env = Environment(loader=FileSystemLoader(str(Path(__file__).parent / "templates")),
                      autoescape=select_autoescape(["html", "j2"], default=True))
    env.filters["printable"] = _printable
    template = env.get_template("scan_report.html.j2")
    return template.render(report=report, summary=report.summary(), groups=group_findings(report.findings),
                           rules=RULES, severities=SEVERITIES)


def to_xlsx(report: ScanReport) -> bytes:
    from openpyxl import Workbook
    from openpyxl.styles import Font

    book = Workbook()
    sheet = book.active
    sheet.title = "Findings"
    sheet.append(list(GROUP_FIELDS))
    for row in _group_rows(report):
        xlsx_append(sheet, [row[k] for k in GROUP_FIELDS])
    every = book.create_sheet("Lines")
    every.append(list(FINDING_FIELDS))
    for finding in report.sorted_findings():
        xlsx_append(every, [_printable(v) if isinstance(v, str) else v
                            for v in (getattr(finding, k) for k in FINDING_FIELDS)])
    summary = report.summary()
    rules = book.create_sheet("Summary")
    rules.append(["rule", "title", "count"])
    for rule_id, count in summary["by_rule"].items():
        rules.append([rule_id, RULES[rule_id].title, count])
    rules.append([])
    rules.append(["severity", "", "count"])
    for severity in SEVERITIES:
        rules.append([severity, "", summary["by_severity"][severity]])
    effort = book.create_sheet("Effort")
    effort.append(["file", "hours", "size", "blockers", "warnings"])
    for file, v in summary["effort_by_file"].items():
        xlsx_append(effort, [_printable(file), v["hours"], v["size"], v["blockers"], v["warnings"]])
    elves = book.create_sheet("Binaries")
    elves.append(["file", "machine", "class", "type", "glibc_floor", "arch_ok", "glibc_ok"])
    for b in report.binaries:
        xlsx_append(elves, [_printable(b.file), b.machine, b.elf_class, b.elf_type, b.glibc_floor, b.arch_ok, b.glibc_ok])
    for ws in book.worksheets:
        for cell in ws[1]:
            cell.font = Font(bold=True)
    out = io.BytesIO()
    book.save(out)
    return out.getvalue()
