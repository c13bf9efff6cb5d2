"""`xch product validate|inspect`: vendor submissions on the command line.

    xch product validate products/redis-server [--json]     every manifest problem at once (exit 2)
    xch product inspect products/redis-server [--arch A] [--json]
                                                             ELF machine/class/glibc/NEEDED/RPATH, jars, wheels
"""

from __future__ import annotations

import argparse

from harness.cli.util import emit, json_option, table
from harness.core.errors import EXIT_BAD_INPUT, EXIT_OK, InputError


def register(sub: argparse._SubParsersAction) -> None:
    product = sub.add_parser("product", help="vendor submissions: validate and inspect product.toml")
    psub = product.add_subparsers(dest="subcommand", metavar="SUBCOMMAND", required=True)
    p = psub.add_parser("validate", help="check a product manifest; every problem is reported at once")
    p.add_argument("path", metavar="PATH", help="product folder or product.toml")
    json_option(p), p.set_defaults(func=cmd_validate)
    p = psub.add_parser("inspect", help="fetch and unpack the artifacts; list ELF files, jars and wheels")
    p.add_argument("path", metavar="PATH", help="product folder or product.toml")
    p.add_argument("--arch", help="only artifacts for this architecture (aarch64, x86_64...)")
    json_option(p), p.set_defaults(func=cmd_inspect)


# -- validate -----------------------------------------------------------------------------------------

def cmd_validate(args: argparse.Namespace) -> int:
    from harness.product import describe, load_product

    try:
        product = load_product(args.path)
    except InputError as exc:
        if not args.json:
            raise
        emit(args, {"valid": False, "path": str(args.path), "error": exc.message.splitlines()[0],
                    "problems": [str(p) for p in exc.problems] or [exc.message]}, str)
        return EXIT_BAD_INPUT
    data = {"valid": True, **describe(product)}

    def human() -> str:
        life = product.lifecycle
        rows = [
            {"field": "id", "value": product.id}, {"field": "vendor", "value": product.vendor},
            {"field": "name", "value": product.name}, {"field": "version", "value": product.version},
            {"field": "category", "value": product.category}, {"field": "contact", "value": product.contact},
            {"field": "platforms", "value": ", ".join(p.label() for p in product.platforms)},
            {"field": "artifacts", "value": ", ".join(f"{a.arch}:{a.describe()}" for a in product.artifacts)},
            {"field": "service", "value": life.service or (f"start: {life.start}" if life.start else "-")},
            {"field": "ports", "value": ", ".join(map(str, life.ports)) or "-"},
            {"field": "health", "value": life.health.type if life.health else "-"},
            {"field": "smoke tests", "value": str(len(product.smoke))},
        ]
        return f"{product.path}: valid\n" + table(rows, ["field", "value"])

    emit(args, data, human)
    return EXIT_OK


# -- inspect ------------------------------------------------------------------------------------------

def cmd_inspect(args: argparse.Namespace) -> int:
    from harness import artifacts
    from harness.product import canonical_arch, load_product

    product = load_product(args.path)
    archs = None
    if args.arch:
        arch = canonical_arch(args.arch)
        if arch is None or arch == "all":
            raise InputError(f"--arch {args.arch!r}: expected an architecture such as aarch64 or x86_64")
        archs = [arch]
    reports = []
    for fetched in artifacts.fetch_product(product, archs):
        report = artifacts.inspect_cached(fetched)
        reports.append({"artifact": fetched.artifact.describe(), "arch": fetched.artifact.arch,
                        "sha256": fetched.sha256, "sm3": fetched.sm3, **report})
    if not reports:
        raise InputError(f"{product.path}: no artifacts" + (f" for {archs[0]}" if archs else ""))

    def human() -> str:
        summary = [{"artifact": r["artifact"], "arch": r["arch"], "package": f"{r['package']['name']} "
                    f"{r['package']['version']} ({r['package']['architecture']})",
                    "elf": r["summary"]["elf_count"],
                    "machines": ",".join(f"{m}:{n}" for m, n in r["summary"]["machines"].items()) or "-",
                    "glibc_max": r["summary"]["glibc_max"] or "-", "jars": len(r["jars"]), "wheels": len(r["wheels"]),
                    "sha256": r["sha256"][:16] + "…"} for r in reports]
        text = table(summary, ["artifact", "arch", "package", "elf", "machines", "glibc_max", "jars", "wheels", "sha256"])
        elves = [{"file": e["path"], "arch": r["arch"], "machine": e["machine"], "class": e["class"],
                  "glibc": e["glibc"] or "-", "needed": ", ".join(e["needed"][:6]) + (" …" if len(e["needed"]) > 6 else ""),
                  "rpath/runpath": ":".join(e["rpath"] + e["runpath"]) or "-"}
                 for r in reports for e in artifacts.all_elves(r)]
        if elves:
            text += "\n\n" + table(elves, ["file", "arch", "machine", "class", "glibc", "needed", "rpath/runpath"])
        for r in reports:
            for w in r["wheels"]:
                text += f"\nwheel {w['path']}: platforms {', '.join(w['platforms'])}"
            for j in r["jars"]:
                if j["native"]:
                    text += f"\njar {j['path']}: native {', '.join(n['path'].split('!')[-1] + ' (' + n['machine'] + ')' for n in j['native'])}"
        return text

    emit(args, reports, human)
    return EXIT_OK
