"""`xch lab up|status|down|reset|rm|rebuild`: the local lab.

Two labs side by side: the chroot lab (lab-arm64 under qemu-user, lab-x86 native, extra rootfs
tarballs; targets/lab.toml) and, with --vm, the system lab of full-system VMs (vm-arm64, vm-x86:
own kernel, systemd, devices, network; targets/lab-vm.toml). Verbs that take names work on either:
a name is a VM's or a chroot target's.
"""

from __future__ import annotations

import argparse
from pathlib import Path

from harness.cli.util import emit, json_option, table
from harness.core.errors import EXIT_OK, InputError
from harness.core.paths import project_dir

CHROOT_NOTE = "inventory: targets/lab.toml (lab-arm64 runs under qemu-user emulation: its timings are not ARM silicon)"

VM_NOTE = ("inventory: targets/lab-vm.toml (emulation=tcg: every instruction is emulated, timings are emulation, "
           "not silicon; VMs have their own network, so `xch certify -n 2` is safe on them)")


def cmd_lab_up(args: argparse.Namespace) -> int:
    from harness import lab

    if args.vm:
        if args.rootfs:
            raise InputError("--rootfs adds a chroot target; it cannot be combined with --vm")
        from harness.lab.vm import vm_up

        rows = vm_up(project_dir())
        emit(args, rows, lambda: table(rows, ["name", "arch", "host", "port", "accel", "cpu", "status"]) + "\n" + VM_NOTE)
        return EXIT_OK
    extra = []
    if args.rootfs:
        if not (args.name and args.arch):
            raise InputError("--rootfs needs --name NAME and --arch aarch64|x86_64")
        if args.arch not in ("aarch64", "x86_64"):
            raise InputError(f"--arch must be aarch64 or x86_64, got {args.arch!r}")
        extra.append(lab.RootfsSpec(file=Path(args.rootfs).resolve(), name=args.name, arch=args.arch))
    rows = lab.lab_up(project_dir(), extra=extra or None)
    note = CHROOT_NOTE + (f"\nthe rootfs is target {args.name!r}" if args.rootfs else "")
    emit(args, rows, lambda: table(rows, ["name", "arch", "host", "port", "status"]) + "\n" + note)
    return EXIT_OK


def cmd_lab_status(args: argparse.Namespace) -> int:
    from harness import lab
    from harness.lab.vm import vm_status

    rows = [{**r, "kind": "chroot", "accel": "qemu-user" if r["arch"] == "aarch64" else "native"}
            for r in lab.lab_status(project_dir())] + vm_status()
    emit(args, rows, lambda: table(rows, ["name", "kind", "arch", "accel", "address", "port", "built", "running",
                                          "answering"]) if rows else "lab: nothing built or running")
    return EXIT_OK


def cmd_lab_down(args: argparse.Namespace) -> int:
    from harness import lab
    from harness.lab.vm import is_vm_name, vm_down

    chroot_names = [n for n in args.names if not is_vm_name(n)]
    if chroot_names:
        raise InputError(f"`xch lab down NAME` stops lab VMs; {', '.join(chroot_names)} is not one "
                         "(the chroot lab stops as a whole: `xch lab down`)")
    if args.vm or args.names:
        done = vm_down(project_dir(), args.names or None)
    else:
        done = lab.lab_down(project_dir())
    emit(args, done, lambda: "\n".join(done) or "lab: nothing to stop")
    return EXIT_OK


def cmd_lab_reset(args: argparse.Namespace) -> int:
    from harness.lab.vm import is_vm_name, vm_reset

    not_vms = [n for n in args.names if not is_vm_name(n)]
    if not_vms:
        raise InputError(f"{', '.join(not_vms)}: only lab VMs have a base image to return to "
                         "(vm-arm64, vm-x86); a chroot target is rebuilt with `xch lab rebuild NAME`")
    rows = vm_reset(project_dir(), args.names)
    emit(args, rows, lambda: table(rows, ["name", "arch", "host", "port", "accel", "status"]))
    return EXIT_OK


def cmd_lab_rm(args: argparse.Namespace) -> int:
    from harness import lab
    from harness.lab.vm import is_vm_name, vm_rm

    done = vm_rm(project_dir(), args.name) if is_vm_name(args.name) else lab.lab_rm(project_dir(), args.name)
    emit(args, done, lambda: "\n".join(done) or f"lab: {args.name} had nothing to remove")
    return EXIT_OK


def cmd_lab_rebuild(args: argparse.Namespace) -> int:
    from harness import lab
    from harness.lab.vm import is_vm_name, vm_rm, vm_up

    if is_vm_name(args.name):
        vm_rm(project_dir(), args.name)
        rows = vm_up(project_dir(), [args.name])
        emit(args, rows, lambda: table(rows, ["name", "arch", "host", "port", "accel", "status"]))
    else:
        rows = lab.lab_rebuild(project_dir(), args.name)
        emit(args, rows, lambda: table(rows, ["name", "arch", "host", "port", "status"]))
    return EXIT_OK


def register(sub: argparse._SubParsersAction) -> None:
    lab = sub.add_parser("lab", help="the local lab: chroot targets (emulated arm64, native x86) and, with --vm, "
                                     "full-system VMs")
    lsub = lab.add_subparsers(dest="subcommand", metavar="SUBCOMMAND", required=True)
    p = lsub.add_parser("up", help="build (once) and start the chroot lab (targets/lab.toml), or with --vm the VMs "
                                   "(targets/lab-vm.toml)")
    p.add_argument("--vm", action="store_true",
                   help="the system lab: build (once) and boot vm-arm64 (TCG) and vm-x86 (KVM if it truly works)")
    p.add_argument("--rootfs", metavar="FILE", help="also start this rootfs tarball (e.g. an openEuler export) "
                                                    "as a chroot target called NAME")
    p.add_argument("--name", help="target name for --rootfs (the target is called exactly this)")
    p.add_argument("--arch", help="architecture of --rootfs: aarch64 or x86_64")
    json_option(p), p.set_defaults(func=cmd_lab_up)
    p = lsub.add_parser("status", help="show the lab's targets, chroot and VM")
    json_option(p), p.set_defaults(func=cmd_lab_status)
    p = lsub.add_parser("down", help="stop the chroot lab and unmount what it mounted; with --vm or names, the VMs "
                                     "(their disks are kept)")
    p.add_argument("--vm", action="store_true", help="power the lab VMs down instead")
    p.add_argument("names", nargs="*", metavar="NAME", help="only these VMs")
    json_option(p), p.set_defaults(func=cmd_lab_down)
    p = lsub.add_parser("reset", help="return lab VMs to their base image (drop the overlay and scratch disks, boot)")
    p.add_argument("names", nargs="+", metavar="NAME", help="vm-arm64, vm-x86")
    json_option(p), p.set_defaults(func=cmd_lab_reset)
    p = lsub.add_parser("rm", help="stop a lab target and delete its image (an extra rootfs is forgotten)")
    p.add_argument("name", metavar="NAME", help="a VM (vm-arm64, vm-x86) or a chroot target (lab-x86, an extra)")
    json_option(p), p.set_defaults(func=cmd_lab_rm)
    p = lsub.add_parser("rebuild", help="delete a lab target's image and build and start it again")
    p.add_argument("name", metavar="NAME", help="a VM (vm-arm64, vm-x86) or a chroot target (lab-x86, an extra)")
    json_option(p), p.set_defaults(func=cmd_lab_rebuild)
