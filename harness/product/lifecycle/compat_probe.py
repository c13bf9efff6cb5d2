#!/usr/bin/env python3
"""Target-side probe of the compat suite: uploaded to the target and run with its python3.

Why a probe: `bash -c '</dev/tcp/...'` is not portable, and on the lab the chroots share the
host's PID and network namespaces, so `ps` and `ss` see the other targets' processes and ports.
The probe scopes everything to *this* target: a process belongs to it when its root directory is
the same as ours (stat of /proc/PID/root equals stat of /), and a listening socket belongs to it
when one of those processes holds the socket. Processes of SSH sessions (an sshd ancestor) are
marked, so the harness's own shells and the probe itself are never taken for the product's.

Under qemu-user emulation /proc/PID/exe is the emulator; the program is then argv[1].
Runs on Python 3.6+ with the standard library only. Prints one JSON document.

    compat_probe.py snapshot
    compat_probe.py wait-tcp HOST PORT TIMEOUT [owned]
    compat_probe.py wait-http URL STATUS TIMEOUT
    compat_probe.py wait-closed TIMEOUT PORT...
    compat_probe.py wait-gone TIMEOUT PID...
"""

import json
import os
import pwd
import socket
import sys
import time

TCP_LISTEN = "0A"


def _read(path, mode="r"):
    try:
        with open(path, mode) as fh:
            return fh.read()
    except OSError:
        return None


def _root_id():
    st = os.stat("/")
    return (st.st_dev, st.st_ino)


def _in_our_root(pid, root):
    try:
        st = os.stat("/proc/%d/root" % pid)
    except OSError:
        return False
    return (st.st_dev, st.st_ino) == root


def _proc(pid):
    stat = _read("/proc/%d/stat" % pid)
    raw = _read("/proc/%d/cmdline" % pid, "rb")
    if stat is None or raw is None:
        return None
    comm = stat[stat.index("(") + 1:stat.rindex(")")]
    rest = stat[stat.rindex(")") + 2:].split()
    argv = [a.decode("utf-8", "replace") for a in raw.split(b"\0") if a]
    try:
        exe = os.readlink("/proc/%d/exe" % pid).replace(" (deleted)", "")
    except OSError:
        exe = ""
    emulated = "qemu" in os.path.basename(exe) or (argv and "qemu-binfmt" in argv[0])
    if emulated and len(argv) >= 2:
        prog, args = argv[1], argv[2:]
    else:
        prog, args = exe or (argv[0] if argv else ""), argv
    status = _read("/proc/%d/status" % pid) or ""
    uid, rss = -1, 0
    for line in status.splitlines():
        if line.startswith("Uid:"):
            uid = int(line.split()[1])
        elif line.startswith("VmRSS:"):
            rss = int(line.split()[1])
    try:
        user = pwd.getpwuid(uid).pw_name
    except (KeyError, OverflowError):
        user = str(uid)
    return {"pid": pid, "ppid": int(rest[1]), "comm": comm, "prog": prog, "args": args, "uid": uid, "user": user,
            "rss_kb": rss, "cpu_ticks": int(rest[11]) + int(rest[12]), "start": int(rest[19]),
            "emulated": bool(emulated), "kthread": bool(int(rest[6]) & PF_KTHREAD)}


PF_KTHREAD = 0x00200000  # /proc/PID/stat flags: a kernel thread (kworkers come and go on a real kernel)


def _all_pids():
    return sorted(int(p) for p in os.listdir("/proc") if p.isdigit())


def _is_sshd(info):
    return info["comm"] == "sshd" or os.path.basename(info["prog"]) == "sshd"


def processes():
    """Processes in our root; `session` marks those under an sshd (our shells, the probe, other logins)."""
    root = _root_id()
    infos = {}
    for pid in _all_pids():
        info = _proc(pid)
        if info is not None and not info["kthread"]:
            info["ours"] = _in_our_root(pid, root)
            infos[pid] = info
    result = []
    for info in infos.values():
        if not info["ours"]:
            continue
        session, cur, seen = False, info, set()
        while cur is not None and cur["pid"] not in seen:
            seen.add(cur["pid"])
            if _is_sshd(cur):
                session = True
                break
            cur = infos.get(cur["ppid"])
        info["session"] = session
        result.append(info)
    return result


def _socket_owners(pids):
    owners = {}
    for pid in pids:
        fd_dir = "/proc/%d/fd" % pid
        try:
            fds = os.listdir(fd_dir)
        except OSError:
            continue
        for fd in fds:
            try:
                link = os.readlink(os.path.join(fd_dir, fd))
            except OSError:
                continue
            if link.startswith("socket:["):
                owners.setdefault(link[8:-1], pid)
    return owners


def listening(procs=None):
    """TCP listeners of the network namespace, with `pid` set when one of our processes holds it."""
    procs = processes() if procs is None else procs
    owners = _socket_owners([p["pid"] for p in procs])
    result = []
    for name in ("tcp", "tcp6"):
        text = _read("/proc/net/" + name) or ""
        for line in text.splitlines()[1:]:
            parts = line.split()
            if len(parts) < 10 or parts[3] != TCP_LISTEN:
                continue
            addr, port = parts[1].rsplit(":", 1)
            inode = parts[9]
            result.append({"proto": name, "port": int(port, 16), "addr": addr, "inode": inode,
                           "pid": owners.get(inode)})
    return result


def snapshot():
    procs = processes()
    mem = {}
    for line in (_read("/proc/meminfo") or "").splitlines():
        key, _, value = line.partition(":")
        if key in ("MemTotal", "MemAvailable"):
            mem[key] = int(value.split()[0])
    users = sorted(p.pw_name for p in pwd.getpwall())
    return {"root": "%d:%d" % _root_id(), "time": time.time(), "procs": procs, "listen": listening(procs),
            "users": users, "mem_kb": mem, "loadavg": (_read("/proc/loadavg") or "").split()[:3],
            "clk_tck": os.sysconf("SC_CLK_TCK")}


def _owned_port(port):
    return any(s["port"] == port and s["pid"] is not None for s in listening())


def wait_tcp(host, port, timeout, owned=False):
    start, error = time.time(), ""
    while True:
        try:
            with socket.create_connection((host, port), timeout=2):
                pass
            if not owned or _owned_port(port):
                return {"ok": True, "elapsed": round(time.time() - start, 3)}
            error = "port %d answers but no process of this target holds it" % port
        except OSError as exc:
            error = "%s: %s" % (type(exc).__name__, exc)
        if time.time() - start >= timeout:
            return {"ok": False, "elapsed": round(time.time() - start, 3), "error": error}
        time.sleep(0.5)


def wait_http(url, status, timeout):
    try:
        from urllib.error import HTTPError
        from urllib.request import urlopen
    except ImportError:  # pragma: no cover - Python 2
        return {"ok": False, "elapsed": 0, "error": "python3 urllib missing"}
    start, error = time.time(), ""
    while True:
        try:
            code = urlopen(url, timeout=5).getcode()
        except HTTPError as exc:
            code = exc.code
        except Exception as exc:  # connection refused, reset, timeout
            code, error = None, "%s: %s" % (type(exc).__name__, exc)
        if code == status:
            return {"ok": True, "elapsed": round(time.time() - start, 3), "status": code}
        if code is not None:
            error = "HTTP status %d, expected %d" % (code, status)
        if time.time() - start >= timeout:
            return {"ok": False, "elapsed": round(time.time() - start, 3), "error": error}
        time.sleep(0.5)


def wait_closed(timeout, ports):
    start = time.time()
    while True:
        held = sorted({s["port"] for s in listening() if s["port"] in ports and s["pid"] is not None})
        if not held or time.time() - start >= timeout:
            return {"ok": not held, "elapsed": round(time.time() - start, 3), "held": held}
        time.sleep(0.5)


def wait_gone(timeout, pids):
    start = time.time()
    while True:
        alive = [p for p in pids if os.path.exists("/proc/%d" % p)]
        if not alive or time.time() - start >= timeout:
            return {"ok": not alive, "elapsed": round(time.time() - start, 3), "alive": alive}
        time.sleep(0.2)


def main(argv):
    cmd = argv[1] if len(argv) > 1 else ""
    if cmd == "snapshot":
        out = snapshot()
    elif cmd == "wait-tcp":
        out = wait_tcp(argv[2], int(argv[3]), float(argv[4]), owned=len(argv) > 5 and argv[5] == "owned")
    elif cmd == "wait-http":
        out = wait_http(argv[2], int(argv[3]), float(argv[4]))
    elif cmd == "wait-closed":
        out = wait_closed(float(argv[2]), [int(p) for p in argv[3:]])
    elif cmd == "wait-gone":
        out = wait_gone(float(argv[2]), [int(p) for p in argv[3:]])
    else:
        sys.stderr.write("usage: compat_probe.py snapshot|wait-tcp|wait-http|wait-closed|wait-gone ...\n")
        return 2
    sys.stdout.write(json.dumps(out) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
