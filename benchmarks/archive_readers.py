#!/usr/bin/env python3
"""Which package reader: xch's (harness.artifacts.archives) next to python-debian, arpy, rpmfile and libarchive-c.

Three questions, answered side by side on real packages (Debian .debs fetched with apt, an .rpm
built by rpmbuild from the same files, a .tar.gz of them):

1. speed: wall time to read every member's bytes (median and minimum of --runs, contenders
   interleaved), MB/s of expanded data, and the ratio to xch's reader;
2. hostile input: a .deb whose ar header says -60 bytes; a zstd-payload .rpm of zeros (peak RSS);
3. mangled input: --mutations random truncations and bit flips of each real package; per reader,
   how many were read, refused with the reader's own error, raised something else (what a caller
   must then catch broadly), or hung (> 5 s).

Contenders that are not installed show "not installed" (none is a dependency of xch):

    .venv/bin/pip install python-debian arpy rpmfile libarchive-c   # in a scratch venv
    .venv/bin/python benchmarks/archive_readers.py [--debs libicu72,redis-tools] [--runs 5] [--mutations 200]
        [--json]

Nothing here asserts a figure.
"""

from __future__ import annotations

import argparse
import io
import json
import random
import shutil
import signal
import statistics
import subprocess
import sys
import tarfile
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests" / "fixtures" / "products"))

from harness.artifacts import AptFetcher, Limits, open_archive  # noqa: E402
from harness.product import Artifact  # noqa: E402

LIMITS = Limits(max_bytes=1 << 40, max_ratio=1 << 30)  # measure reading, not refusing


def _have(module: str) -> bool:
    try:
        __import__(module)
        return True
    except ImportError:
        return False


# -- contenders: each reads every regular member to its end and returns the bytes read ----------------

def xch_reader(path: Path) -> int:
    total = 0
    with open_archive(path, limits=LIMITS) as archive:
        for member in archive.members():
            if member.kind == "file":
                while chunk := member.read(1 << 20):
                    total += len(chunk)
    return total


def _tar_bytes(tar: tarfile.TarFile) -> int:
    """Bytes of every regular member of an open tarfile, each read whole (as those readers are used)."""
    return sum(len(tar.extractfile(info).read()) for info in tar if info.isfile())


def python_debian(path: Path) -> int:
    from debian import debfile

    return _tar_bytes(debfile.DebFile(str(path)).data.tgz())


def arpy_tarfile(path: Path) -> int:
    import arpy

    total = 0
    with arpy.Archive(str(path)) as ar:
        for member in ar:
            if member.header.name.startswith(b"data.tar"):
                with tarfile.open(fileobj=io.BytesIO(member.read()), mode="r:*") as tar:
                    total += _tar_bytes(tar)
    return total


def rpmfile_reader(path: Path) -> int:
    import rpmfile

    total = 0
    with rpmfile.open(str(path)) as rpm:
        for member in rpm.getmembers():
            total += len(rpm.extractfile(member).read())
    return total


def libarchive_reader(path: Path) -> int:
    import libarchive

    total = 0
    with libarchive.file_reader(str(path)) as archive:
        for entry in archive:
            if path.suffix == ".deb" and entry.pathname.startswith("data.tar"):
                inner = b"".join(entry.get_blocks())
                with libarchive.memory_reader(inner) as tar:
                    for item in tar:
                        if item.isreg:
                            total += sum(len(b) for b in item.get_blocks())
            elif path.suffix != ".deb" and entry.isreg:
                total += sum(len(b) for b in entry.get_blocks())
    return total


def tarfile_reader(path: Path) -> int:
    with tarfile.open(path, "r:*") as tar:
        return _tar_bytes(tar)


CONTENDERS: dict[str, list[tuple[str, Callable[[Path], int], str]]] = {
    "deb": [("xch", xch_reader, ""), ("python-debian", python_debian, "debian"), ("arpy+tarfile", arpy_tarfile, "arpy"),
            ("libarchive-c", libarchive_reader, "libarchive")],
    "rpm": [("xch", xch_reader, ""), ("rpmfile", rpmfile_reader, "rpmfile"), ("libarchive-c", libarchive_reader, "libarchive")],
    "tar.gz": [("xch", xch_reader, ""), ("tarfile", tarfile_reader, ""), ("libarchive-c", libarchive_reader, "libarchive")],
}
OWN_ERRORS = {"xch": "harness.artifacts.archives:ArchiveError", "python-debian": "debian.debfile:DebError",
              "arpy+tarfile": "arpy:ArchiveFormatError", "rpmfile": "rpmfile.errors:RPMError",
              "libarchive-c": "libarchive.exception:ArchiveError", "tarfile": "tarfile:TarError"}


def _own_error(name: str) -> tuple[type[BaseException], ...]:
    module, _, cls = OWN_ERRORS[name].partition(":")
    try:
        found = [getattr(__import__(module, fromlist=[cls]), cls)]
    except (ImportError, AttributeError):
        return ()
    if name == "python-debian":
        from debian import arfile
        found.append(arfile.ArError)
    if name == "arpy+tarfile":
        import arpy
        found += [arpy.ArchiveAccessError, tarfile.TarError]
    return tuple(found)


# -- inputs -----------------------------------------------------------------------------------------

def build_inputs(work: Path, debs: list[str]) -> dict[str, list[Path]]:
    fetcher = AptFetcher()
    inputs: dict[str, list[Path]] = {"deb": [], "rpm": [], "tar.gz": []}
    for name in debs:
        deb = fetcher.fetch(Artifact(arch="x86_64", type="deb", apt=name))
        inputs["deb"].append(deb)
        root = work / f"{name}-files"
        subprocess.run(["dpkg-deb", "-x", str(deb), str(root)], check=True)
        files = {"/" + p.relative_to(root).as_posix(): p.read_bytes() for p in root.rglob("*")
                 if p.is_file() and not p.is_symlink()}
        tgz = work / f"{name}.tar.gz"
        with tarfile.open(tgz, "w:gz") as tar:
            tar.add(root, arcname=name)
        inputs["tar.gz"].append(tgz)
        if shutil.which("rpmbuild"):
            import hostile

            built = hostile.rpmbuild_rpm(work / f"{name}-rpm", name=f"xch-bench-{name}", files=files)
            if built:
                inputs["rpm"].append(built)
    return inputs


def time_reader(fn: Callable[[Path], int], path: Path, runs: int) -> tuple[float, int]:
    times, size = [], 0
    for _ in range(runs):
        start = time.perf_counter()
        size = fn(path)
        times.append(time.perf_counter() - start)
    return statistics.median(times), size


class Hang(Exception):
    pass


def _alarm(_signum, _frame):
    raise Hang()


def classify(name: str, fn: Callable[[Path], int], path: Path) -> str:
    signal.signal(signal.SIGALRM, _alarm)
    signal.alarm(5)
    try:
        fn(path)
        return "read"
    except Hang:
        return "hang"
    except _own_error(name):
        return "own error"
    except Exception as exc:  # noqa: BLE001 - that is what is counted
        return f"other: {type(exc).__name__}"
    finally:
        signal.alarm(0)


def mutate(data: bytes, rng: random.Random) -> bytes:
    out = bytearray(data)
    if rng.random() < 0.5:
        out = out[:rng.randrange(len(out))]
    for _ in range(rng.randint(1, 8) if out else 0):
        out[rng.randrange(len(out))] ^= 1 << rng.randrange(8)
    return bytes(out)


def peak_rss_mb(contender: str, path: Path) -> str:
    """Peak RSS of reading `path` with one contender, in a fresh process (MB), or what went wrong.

    VmHWM, not ru_maxrss: after fork and exec Linux keeps the parent's ru_maxrss in the child.
    """
    code = (f"import sys; sys.path.insert(0, {str(Path(__file__).parent)!r}); import archive_readers as b; "
            f"fn = dict((n, f) for n, f, _ in b.CONTENDERS['rpm'])[{contender!r}]; fn(b.Path({str(path)!r})); "
            "print(next(int(l.split()[1]) // 1024 for l in open('/proc/self/status') if l.startswith('VmHWM')))")
    try:
        done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=300)
    except subprocess.TimeoutExpired:
        return "hang"
    return done.stdout.strip() if done.returncode == 0 else f"error: {done.stderr.strip().splitlines()[-1][:80]}"


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--debs", default="libicu72,redis-tools", help="Debian packages to read (amd64)")
    parser.add_argument("--runs", type=int, default=5)
    parser.add_argument("--mutations", type=int, default=200)
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args()
    figures: dict = {"speed": [], "negative_ar": {}, "zstd_bomb_rss_mb": {}, "mutations": {}}
    with tempfile.TemporaryDirectory(prefix="xch-bench-") as tmp:
        work = Path(tmp)
        inputs = build_inputs(work, args.debs.split(","))
        print(f"{'format':7} {'package':42} {'reader':14} {'median s':>9} {'min s':>7} {'MB/s':>7} {'/ xch':>6}")
        for kind, paths in inputs.items():
            for path in paths:
                ready = [(name, fn) for name, fn, module in CONTENDERS[kind] if not module or _have(module)]
                for name, _fn, module in CONTENDERS[kind]:
                    if module and not _have(module):
                        print(f"{kind:7} {path.name[:42]:42} {name:14} {'not installed':>9}")
                times: dict[str, list[float]] = {name: [] for name, _ in ready}
                sizes: dict[str, int] = {}
                for _ in range(args.runs):  # interleaved, so a busy machine slows every contender alike
                    for name, fn in ready:
                        seconds, sizes[name] = time_reader(fn, path, 1)
                        times[name].append(seconds)
                base = statistics.median(times["xch"])
                for name, _fn in ready:
                    median = statistics.median(times[name])
                    figures["speed"].append({"format": kind, "package": path.name, "reader": name, "median_s": median,
                                             "min_s": min(times[name]), "bytes": sizes[name]})
                    print(f"{kind:7} {path.name[:42]:42} {name:14} {median:9.3f} {min(times[name]):7.3f} "
                          f"{sizes[name] / median / 1e6:7.1f} {median / base:6.2f}")

        import hostile

        neg = hostile.negative_ar_size(inputs["deb"][-1], work / "negative.deb")
        print("\nar member of size -60 (a .deb):")
        for name, fn, module in CONTENDERS["deb"]:
            if module and not _have(module):
                continue
            figures["negative_ar"][name] = outcome = classify(name, fn, neg)
            print(f"  {name:14} {outcome}")

        if shutil.which("rpmbuild"):
            bomb = _zstd_zero_rpm(work / "zbomb", 512 << 20)
            print(f"\nzstd-payload rpm, {bomb.stat().st_size // 1024} KiB holding 512 MiB of zeros: peak RSS (MB)")
            for name, _fn, module in CONTENDERS["rpm"]:
                if module and not _have(module):
                    continue
                figures["zstd_bomb_rss_mb"][name] = rss = peak_rss_mb(name, bomb)
                print(f"  {name:14} {rss}")

        rng = random.Random(12)
        print(f"\n{args.mutations} random truncations/bit flips of each real package:")
        for kind, paths in inputs.items():
            if not paths:
                continue
            data = min(paths, key=lambda p: p.stat().st_size).read_bytes()
            samples = [mutate(data, rng) for _ in range(args.mutations)]
            for name, fn, module in CONTENDERS[kind]:
                if module and not _have(module):
                    continue
                counts: dict[str, int] = {}
                for i, sample in enumerate(samples):
                    path = work / f"m{i}{'.deb' if kind == 'deb' else '.rpm' if kind == 'rpm' else '.tar.gz'}"
                    path.write_bytes(sample)
                    result = classify(name, fn, path)
                    counts[result] = counts.get(result, 0) + 1
                figures["mutations"][f"{kind} {name}"] = counts
                print(f"  {kind:7} {name:14} " + ", ".join(f"{k} {v}" for k, v in sorted(counts.items())))
    if args.json:
        print(json.dumps(figures, indent=1))
    return 0


def _zstd_zero_rpm(folder: Path, size: int) -> Path:
    """A real rpm (rpmbuild, zstd payload) holding one sparse file of `size` zeros."""
    top = folder / "rpmbuild"
    (top / "SPECS").mkdir(parents=True)
    spec = top / "SPECS" / "zero.spec"
    spec.write_text(f"""Name: xch-bench-zero
Version: 1.0
Release: 1
Summary: zeros
License: Apache-2.0
BuildArch: noarch
%description
zeros
%install
mkdir -p %{{buildroot}}/usr/share/zero
truncate -s {size} %{{buildroot}}/usr/share/zero/zeros
%files
/usr/share/zero/zeros
""")
    subprocess.run(["rpmbuild", "-bb", "--define", f"_topdir {top}", "--define", "_binary_payload w19.zstdio", str(spec)],
                   check=True, capture_output=True)
    [rpm] = (top / "RPMS").rglob("*.rpm")
    return rpm


if __name__ == "__main__":
    raise SystemExit(main())
