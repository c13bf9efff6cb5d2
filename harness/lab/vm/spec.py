"""What each VM of the system lab is: architecture, machine, CPU model, devices, addresses, SMBIOS profile.

Addresses are chosen not to collide with the chroot lab (127.0.0.2:2201, 127.0.0.3:2202, extras
127.0.0.4+:2203+) nor with the fleet benchmark's 127.0.1.x: VMs answer SSH on 127.0.2.x:222x. The
link the two VMs share (their second NIC) is a qemu UDP socket pair on the same loopback addresses,
so no frame ever leaves the machine; inside, the link uses link-local addresses (169.254.13.0/24),
which no router forwards.

SMBIOS profiles are *lab profiles*: strings shaped like a TaiShan 200 (Kunpeng 920) server and a
generic x86 server so that facts, reports and platform checks can be tested against machine
identity, each of them marked "xch lab profile" where a person reads it (family, version, SKU,
serial prefix XCHLAB-), so nobody mistakes a lab VM for the real machine.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from harness.lab.state import DEBIAN_SUITE

LAB_PROFILE_MARK = "xch lab profile"

ROOT_LABEL = "xch-root"  # the ext4 label the initramfs looks for


@dataclass(frozen=True)
class SmbiosProfile:
    """SMBIOS strings, per table type (0 BIOS, 1 system, 2 board, 3 chassis, 4 processor)."""

    name: str
    tables: dict[int, dict[str, str]]


TAISHAN_200_LAB = SmbiosProfile("taishan200-kunpeng920-lab", {
    0: {"vendor": "Huawei Technologies Co., Ltd. (xch lab profile)", "version": "1.79 (xch lab profile)",
        "date": "09/15/2023"},
    1: {"manufacturer": "Huawei", "product": "TaiShan 200 (Model 2280)", "version": LAB_PROFILE_MARK,
        "serial": "XCHLAB-ARM64-0001", "sku": "XCHLAB-TS200-2280", "family": "Kunpeng 920 (xch lab profile)"},
    2: {"manufacturer": "Huawei", "product": "BC82AMDD", "version": LAB_PROFILE_MARK, "serial": "XCHLAB-BRD-ARM64-01"},
    3: {"manufacturer": "Huawei", "version": LAB_PROFILE_MARK, "serial": "XCHLAB-CHS-ARM64-01",
        "asset": "xch-lab", "sku": "XCHLAB-2U"},
    4: {"manufacturer": "HiSilicon", "version": "Kunpeng 920-4826 (xch lab profile)"},
})

GENERIC_X86_LAB = SmbiosProfile("generic-x86-server-lab", {
    0: {"vendor": "xch lab BIOS (xch lab profile)", "version": "2.0.0 (xch lab profile)", "date": "01/10/2024"},
    1: {"manufacturer": "xch lab", "product": "Generic x86 Server 2U", "version": LAB_PROFILE_MARK,
        "serial": "XCHLAB-X86-0001", "sku": "XCHLAB-GX86-2U", "family": "x86 server (xch lab profile)"},
    2: {"manufacturer": "xch lab", "product": "GX86-MB", "version": LAB_PROFILE_MARK, "serial": "XCHLAB-BRD-X86-01"},
    3: {"manufacturer": "xch lab", "version": LAB_PROFILE_MARK, "serial": "XCHLAB-CHS-X86-01",
        "asset": "xch-lab", "sku": "XCHLAB-2U"},
    4: {"manufacturer": "xch lab", "version": "x86-64 server CPU (xch lab profile)"},
})


@dataclass(frozen=True)
class VmSpec:
    """One VM target of the system lab."""

    name: str
    arch: str                  # aarch64 | x86_64
    deb_arch: str              # arm64 | amd64
    image: str                 # the cached base image it boots (one per arch)
    host: str                  # loopback address sshd is forwarded to
    port: int
    qemu: str                  # qemu-system-* binary
    machine: str
    tcg_cpu: str               # CPU model under TCG
    console: str               # kernel console device
    kernel_package: str
    smbios: SmbiosProfile
    mac: str                   # slirp NIC (virtio-net)
    link_mac: str              # shared-link NIC (e1000e)
    link_address: str          # inside the guest, on the shared link
    link_local: tuple[str, int]   # our end of the UDP socket pair
    link_remote: tuple[str, int]  # the other VM's end
    firmware: str = ""         # UEFI firmware file (arm64: SMBIOS reaches the kernel only through UEFI)
    kvm_capable: bool = False  # x86 on an x86 host may get KVM, if the probe says it truly works
    labels: dict[str, str] = field(default_factory=dict)
    memory_mb: int = 2048
    cpus: int = 2
    watchdog: str = "i6300esb"


AARCH64_FIRMWARE = ("/usr/share/qemu-efi-aarch64/QEMU_EFI.fd", "/usr/share/AAVMF/AAVMF_CODE.fd")

VM_ARM64 = VmSpec(
    name="vm-arm64", arch="aarch64", deb_arch="arm64", image=f"{DEBIAN_SUITE}-arm64-vm",
    host="127.0.2.1", port=2221, qemu="qemu-system-aarch64", machine="virt",
    # Kunpeng 920's TaiShan v110 cores are ARMv8.2; neoverse-n1 is QEMU's ARMv8.2 model (MIDR 0x41/0xd0c),
    # and it boots as fast as max,pauth-impdef=on (plain max emulates pointer authentication slowly).
    tcg_cpu="neoverse-n1", console="ttyAMA0", kernel_package="linux-image-arm64", smbios=TAISHAN_200_LAB,
    mac="52:54:00:13:00:01", link_mac="52:54:00:13:01:01", link_address="169.254.13.1/24",
    link_local=("127.0.2.1", 2231), link_remote=("127.0.2.2", 2232), firmware="aarch64-uefi",
    labels={"lab": "vm", "kind": "vm", "arch": "aarch64", "cpu_model": "neoverse-n1", "smbios": "lab-profile"},
)

VM_X86 = VmSpec(
    name="vm-x86", arch="x86_64", deb_arch="amd64", image=f"{DEBIAN_SUITE}-amd64-vm",
    host="127.0.2.2", port=2222, qemu="qemu-system-x86_64", machine="q35",
    tcg_cpu="max", console="ttyS0", kernel_package="linux-image-amd64", smbios=GENERIC_X86_LAB,
    mac="52:54:00:13:00:02", link_mac="52:54:00:13:01:02", link_address="169.254.13.2/24",
    link_local=("127.0.2.2", 2232), link_remote=("127.0.2.1", 2231), kvm_capable=True,
    labels={"lab": "vm", "kind": "vm", "arch": "x86_64", "role": "baseline", "smbios": "lab-profile"},
)

VM_TARGETS = (VM_ARM64, VM_X86)


def vm_spec(name: str) -> VmSpec:
    """The VM called `name`; KeyError otherwise (the caller names the known VMs)."""
    for spec in VM_TARGETS:
        if spec.name == name:
            return spec
    raise KeyError(name)


def qemu_option_value(text: str) -> str:
    """A value inside a qemu `-opt key=value,...` list: commas are doubled, as qemu's parser wants."""
    return text.replace(",", ",,")


def smbios_args(profile: SmbiosProfile) -> list[str]:
    """`-smbios type=N,key=value,...` arguments for a profile."""
    args = []
    for kind in sorted(profile.tables):
        fields = ",".join(f"{k}={qemu_option_value(v)}" for k, v in profile.tables[kind].items())
        args += ["-smbios", f"type={kind},{fields}"]
    return args
