"""`xch lab up|status|down`: the local lab (emulated arm64 and native x86 targets on loopback)."""

from __future__ import annotations

import argparse
from pathlib import Path

from harness.cli.util import emit, json_option, table
from harness.core.errors import EXIT_OK, InputError
from harness.core.paths import project_dir


def cmd_lab_up(args: argparse.Namespace) -> int:
    from harness import lab

    extra = []
    if args.rootfs:
        if not (args.name and args.arch):
            raise InputError("--rootfs needs --name NAME and --arch aarch64|x86_64")
        if args.arch not in ("aarch64", "x86_64"):
            raise InputError(f"--arch must be aarch64 or x86_64, got {args.arch!r}")
        extra.append(lab.RootfsSpec(file=Path(args.rootfs).resolve(), name=args.name, arch=args.arch))
    rows = lab.lab_up(project_dir(), extra=extra or None)
    emit(args, rows, lambda: table(rows, ["name", "arch", "host", "port", "status"])
          + "\ninventory: targets/lab.toml (lab-arm64 runs under qemu-user emulation: its timings are not ARM silicon)")
    return EXIT_OK


def cmd_lab_status(args: argparse.Namespace) -> int:
    from harness import lab

    rows = lab.lab_status(project_dir())
    emit(args, rows, lambda: table(rows, ["name", "arch", "address", "port", "built", "running", "answering"])
          if rows else "lab: nothing built or running")
    return EXIT_OK


def cmd_lab_down(args: argparse.Namespace) -> int:
    from harness import lab

    done = lab.lab_down(project_dir())
    emit(args, done, lambda: "\n".join(done) or "lab: nothing to stop")
    return EXIT_OK


def register(sub: argparse._SubParsersAction) -> None:
    lab = sub.add_parser("lab", help="the local lab: emulated arm64 and native x86 targets on loopback")
    lsub = lab.add_subparsers(dest="subcommand", metavar="SUBCOMMAND", required=True)
    p = lsub.add_parser("up", help="build (once) and start the lab; writes targets/lab.toml")
    p.add_argument("--rootfs", metavar="FILE", help="also start this rootfs tarball (e.g. an openEuler export)")
    p.add_argument("--name", help="target name for --rootfs")
    p.add_argument("--arch", help="architecture of --rootfs: aarch64 or x86_64")
    json_option(p), p.set_defaults(func=cmd_lab_up)
    p = lsub.add_parser("status", help="show lab targets")
    json_option(p), p.set_defaults(func=cmd_lab_status)
    p = lsub.add_parser("down", help="stop the lab and unmount what it mounted")
    json_option(p), p.set_defaults(func=cmd_lab_down)
