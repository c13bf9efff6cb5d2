"""`xch report ...`: the static compatibility site (Chinese and English), the period digest, a local server.

    xch report build [--db URL] [--out reports/site] [--lang zh|en|both] [--scan F.json ...]
                     [--assessment F.json ...] [--parity-run DIR ...] [--format text|md|json]
    xch report digest --since YYYY-MM-DD [--until YYYY-MM-DD] [--db URL] [--out FILE] [--format text|md|html|json]
                     [--lang zh|en]
    xch report serve [--port 8000] [--dir reports/site]

Exit codes: 0 ok; 2 bad input (dates, files, an --out folder that is not an xch site); 3 the database
cannot be reached or a port cannot be opened.
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path
from typing import Any

from harness.cli.util import table, write_out
from harness.core.errors import EXIT_OK, InputError
from harness.core.paths import project_dir

DEFAULT_OUT = Path("reports") / "site"


def _langs(value: str) -> list[str]:
    if value == "both":
        return ["zh", "en"]
    if value in ("zh", "en"):
        return [value]
    raise InputError(f"--lang {value!r}: expected zh, en or both")


def _markdown_table(rows: list[dict[str, Any]], columns: list[str]) -> str:
    from tabulate import tabulate

    return tabulate([[str(r.get(c, "")).replace("|", "\\|") for c in columns] for r in rows], headers=columns,
                    tablefmt="github", disable_numparse=True)


# -- build -----------------------------------------------------------------------------------------

def cmd_build(args: argparse.Namespace) -> int:
    from harness.report import build

    out = Path(args.out) if args.out else project_dir() / DEFAULT_OUT
    result = build(args.db, out, _langs(args.lang), [Path(p) for p in args.scan or []],
                   [Path(p) for p in args.assessment or []], [Path(p) for p in args.parity_run or []])
    figures = result.as_dict()
    if args.format == "json":
        import json

        print(json.dumps(figures, indent=2, ensure_ascii=False))
        return EXIT_OK
    rows = [{"what": k, "count": v} for k, v in result.counts.items()]
    rows += [{"what": "pages (html)", "count": result.pages}, {"what": "site size (MB)", "count": f"{result.bytes / 1e6:.2f}"},
             {"what": "matrix data (MB)", "count": f"{result.matrix_bytes / 1e6:.2f}"},
             {"what": "charts", "count": result.charts}, {"what": "build time (s)", "count": f"{result.seconds:.2f}"}]
    if args.format == "md":
        print(f"### 兼容性报告 / Compatibility report\n\nsite: `{result.out}` (languages: {', '.join(result.langs)})\n")
        print(_markdown_table(rows, ["what", "count"]))
    else:
        print(table(rows, ["what", "count"]))
        print(f"\nsite: {result.out}/index.html  (languages: {', '.join(result.langs)}; "
              f"open it from the folder, or: xch report serve --dir {result.out})")
    return EXIT_OK


# -- digest ----------------------------------------------------------------------------------------

def cmd_digest(args: argparse.Namespace) -> int:
    from harness.report import period_digest
    from harness.report.digest import next_day, parse_date, to_markdown

    since = parse_date(args.since, "--since")
    until = next_day(parse_date(args.until, "--until")) if args.until else next_day(
        time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()))
    fmt = args.format
    if fmt is None:
        fmt = {".md": "md", ".html": "html", ".htm": "html", ".json": "json"}.get(
            Path(args.out).suffix.lower(), "md") if args.out else "text"
    digest = period_digest(args.db, since, until)
    if fmt == "json":
        import json

        text = json.dumps(digest, indent=2, ensure_ascii=False) + "\n"
    elif fmt == "md":
        text = to_markdown(digest) + "\n"
    elif fmt == "html":
        text = _digest_html(digest, args.lang)
    else:
        text = _digest_text(digest)
    if args.out:
        write_out(args.out, text)
        n = digest["counts"]
        print(f"digest {since[:10]} .. {until[:10]}: {n['certified']} certified, {n['failed']} incompatible, "
              f"{n['expired']} expired, {n['revoked']} revoked, {n['changed']} changed -> {args.out}", file=sys.stderr)
    else:
        sys.stdout.write(text)
    return EXIT_OK


def _digest_text(digest: dict[str, Any]) -> str:
    n = digest["counts"]
    lines = [f"期间摘要 / period digest {digest['since'][:10]} .. {digest['until'][:10]} (until is exclusive)",
             table([{"what": "certified / 新认证", "count": n["certified"]},
                    {"what": "found incompatible / 新增不兼容", "count": n["failed"]},
                    {"what": "certificates expired / 证书到期", "count": n["expired"]},
                    {"what": "certificates revoked / 证书撤销", "count": n["revoked"]},
                    {"what": "status changed / 结论变化", "count": n["changed"]}], ["what", "count"])]
    for key, cols in (("certified", ["cert_no", "product", "version", "platform", "level", "issued_at"]),
                      ("failed", ["product", "version", "platform", "created_at"]),
                      ("expired", ["cert_no", "product", "version", "platform", "expires_at"]),
                      ("revoked", ["cert_no", "product", "version", "platform", "revoked_at"]),
                      ("changed", ["product", "version", "platform", "old_status", "status", "created_at"])):
        if digest[key]:
            lines += ["", f"{key}:", table(digest[key], cols)]
    return "\n".join(lines) + "\n"


def _digest_html(digest: dict[str, Any], lang: str) -> str:
    from markupsafe import Markup

    from harness.report.data import now_utc
    from harness.report.render import Renderer

    css = (Path(__file__).parents[1] / "report" / "static" / "style.css").read_text(encoding="utf-8")
    return Renderer().render("digest_standalone.html", lang, {
        "digest": digest, "css": Markup(css), "lang": lang, "generated_at": now_utc(), "db": digest.get("db", "")})


# -- serve -----------------------------------------------------------------------------------------

def cmd_serve(args: argparse.Namespace) -> int:
    from harness.report.serve import make_server

    directory = (Path(args.dir) if args.dir else project_dir() / DEFAULT_OUT).resolve()
    server = make_server(directory, args.port)
    host, port = server.server_address[:2]
    print(f"serving {directory} at http://{host}:{port}/  (loopback only; Ctrl-C stops)", flush=True)
    try:
        server.serve_forever()
    except KeyboardInterrupt:
        pass
    finally:
        server.server_close()
    return EXIT_OK


# -- parser ----------------------------------------------------------------------------------------

def register(sub: Any) -> None:
    rep = sub.add_parser("report", help="static compatibility site (zh/en), period digest, local server")
    rsub = rep.add_subparsers(dest="subcommand", metavar="SUBCOMMAND", required=True)

    p = rsub.add_parser("build", help="build the static site from the whitelist database")
    p.add_argument("--db", metavar="URL", help="database URL (default: $XCH_DB_URL or sqlite whitelist/whitelist.db)")
    p.add_argument("--out", metavar="DIR", help=f"site folder (default: {DEFAULT_OUT})")
    p.add_argument("--lang", default="both", help="zh, en or both (default: both, Chinese first)")
    p.add_argument("--scan", action="append", metavar="FILE", help="`xch scan --format json` output (repeatable)")
    p.add_argument("--assessment", action="append", metavar="FILE",
                   help="`xch migrate assess --json` output (repeatable)")
    p.add_argument("--parity-run", action="append", metavar="DIR", help="a `--suite migration` run folder (repeatable)")
    p.add_argument("--format", choices=("text", "md", "json"), default="text",
                   help="summary format: table, Markdown (CI job summary) or JSON")
    p.set_defaults(func=cmd_build)

    p = rsub.add_parser("digest", help="what was certified, failed, expired or changed in a period")
    p.add_argument("--since", required=True, metavar="YYYY-MM-DD", help="first day of the period")
    p.add_argument("--until", metavar="YYYY-MM-DD", help="last day of the period, included (default: today)")
    p.add_argument("--db", metavar="URL", help="database URL (default: $XCH_DB_URL or sqlite whitelist/whitelist.db)")
    p.add_argument("--out", metavar="FILE", help="write to FILE (format from --format or the extension)")
    p.add_argument("--format", choices=("text", "md", "html", "json"), default=None,
                   help="text (default on a terminal), md, html or json")
    p.add_argument("--lang", choices=("zh", "en"), default="zh", help="language of the HTML digest (default zh)")
    p.set_defaults(func=cmd_digest)

    p = rsub.add_parser("serve", help="serve the built site on 127.0.0.1 for a quick look")
    p.add_argument("--port", type=int, default=8000, help="port (default 8000; 0 = any free port)")
    p.add_argument("--dir", metavar="DIR", help=f"site folder (default: {DEFAULT_OUT})")
    p.set_defaults(func=cmd_serve)
