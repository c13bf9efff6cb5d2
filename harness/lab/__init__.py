"""The local lab: real arm64 and amd64 Debian userlands reachable over SSH on loopback.

Nobody on the team has a Kunpeng server, so `xch lab up` gives the harness real targets to drive:
a Debian bookworm arm64 root filesystem run under qemu-user emulation (binfmt_misc with the F
flag, so the chroot needs no interpreter of its own) and an amd64 one as the native baseline.
Each runs its own sshd, chrooted into the image, on its own loopback address and port, so the
rest of the harness talks to them exactly as it talks to a real machine (key auth, strict host
key checking, nothing lab-specific in the transport).

Layout under the lab dir (`$XCH_LAB_DIR`, default /var/lib/xch/lab):

    images/<image>.partial   a build in progress; never taken as cached
    images/<image>           a finished image; it is also the running instance (see below)
    logs/<image>.log         debootstrap / tar output of the build
    id_ed25519[.pub]         the client key pair, authorized for root in every image
    known_hosts              `[127.0.0.2]:2201 ssh-ed25519 AAAA...` lines, for strict checking
    state.json               extras to keep, per-target address/port/pid (written atomically)
    lock                     flock()ed by up/down so two invocations never interleave

Design choice: the instance IS the image dir. Copying a ~300 MB rootfs per `up` would cost time
and disk for little benefit; suites that install packages (apt-get works inside) leave them in
the image, which is what a long-lived lab machine does too. To start one target from scratch:
`xch lab rebuild NAME` (or `xch lab rm NAME`, and the next `up` builds it again). The lab VMs
(vm/, `xch lab up --vm`) instead write to overlays that `xch lab reset NAME` drops.

`lab_down` removes `targets/lab.toml` because an inventory pointing at dead targets would only
produce connection errors; `lab_up` writes it again.

Nothing here isolates the chroots from the host (same network, same PIDs, /dev bound in); the lab
is a test fixture on a throwaway machine, not a sandbox.

Modules (the package reads in the order a lab comes up):
- state.py    targets (built-in and extra rootfs), state.json, the lab's inventory file
- host.py     what is done to the host: mounts, binfmt_misc, processes and ports, files written inside images
- images.py   building images (debootstrap) and unpacking extra rootfs tarballs, with their checks
- sshd.py     each target's chrooted sshd: keys, command line, start, liveness
- aptsources.py the apt suites every Debian lab image gets (release, updates, security), from the controller's
- control.py  `lab_up`, `lab_status`, `lab_down`, `lab_rm`, `lab_rebuild`, the verbs the CLI calls
- vm/         the system lab: full-system VMs under qemu-system (own kernel, systemd, devices, network)
"""

from harness.lab.control import lab_down, lab_rebuild, lab_rm, lab_status, lab_up
from harness.lab.state import LabTarget, RootfsSpec, lab_dir

__all__ = ["LabTarget", "RootfsSpec", "lab_dir", "lab_down", "lab_rebuild", "lab_rm", "lab_status", "lab_up"]
