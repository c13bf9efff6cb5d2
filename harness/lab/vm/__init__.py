"""The system lab: full-system VMs (own kernel, systemd as PID 1, devices, network) beside the chroot lab.

The chroot lab runs userlands; it has no kernel, no supervisor, no devices and one shared network,
so it cannot certify what real servers do (systemd creates /run/<daemon>, restarts a killed
service, two products bind the same port on two machines, modules and devices exist). `xch lab up
--vm` builds two Debian bookworm images once (cached) and boots them under qemu-system:

- vm-arm64: aarch64 under `-M virt` with TCG, CPU neoverse-n1 (ARMv8.2, like Kunpeng 920's cores),
  UEFI firmware, a TaiShan 200-shaped SMBIOS lab profile; SSH on 127.0.2.1:2221;
- vm-x86: x86_64 under `-M q35`, KVM only when a real boot probe says it works (else TCG), a generic
  x86 server lab profile, role=baseline; SSH on 127.0.2.2:2222.

Modules, in the order a VM comes up:
- spec.py       the VMs: machine, CPU, devices, addresses, SMBIOS lab profiles
- image.py      the cached base image: mmdebstrap, host-side set-up, ext4 without loop mounts, qcow2
- initramfs.py  the small initramfs built on the host (no mkinitramfs under emulation); probe mode
- qemu.py       the qemu command line and the host pieces it needs (binary, firmware, qemu-img)
- kvm.py        the time-limited KVM probe, cached per machine
- control.py    up / status / down / reset / rm, the verbs the CLI calls; targets/lab-vm.toml
"""

from harness.lab.vm.control import is_vm_name, vm_down, vm_reset, vm_rm, vm_status, vm_up

__all__ = ["is_vm_name", "vm_down", "vm_reset", "vm_rm", "vm_status", "vm_up"]
