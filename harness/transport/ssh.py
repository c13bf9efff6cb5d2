"""SSH transport: one persistent connection per target, commands framed through one remote shell.

Why a persistent shell: opening a new SSH channel per command (paramiko exec_command, fabric,
testinfra, Ansible) costs ~100 ms, a fresh `ssh` per command several hundred; a compat run issues
hundreds of commands per target. Here each command is written to one long-lived `/bin/sh` on one
channel and framed with a random end marker (see harness.core.shell.framed_command), so a trivial
command costs one round trip plus a fork on the target. File transfer uses SFTP on its own channel.

Failure rules: connecting is retried with backoff (it is safe: nothing ran yet); a command is never
retried (it may have run). A command past its timeout has its process tree killed on the target
through a separate channel and is reported with timed_out=True. If the shell itself stops
answering, the session is dropped and the next command opens a new one.
"""

from __future__ import annotations

import os
import secrets
import select
import socket
import time
from collections.abc import Callable
from pathlib import Path

import paramiko

from harness.core import shell
from harness.core.errors import HostKeyError, TransportError
from harness.inventory import Target
from harness.transport.base import DEFAULT_OUTPUT_LIMIT, RunResult
from harness.transport.commandlog import CommandLog, Masker

CONNECT_ATTEMPTS = 3
KILL_GRACE_S = 5.0


class _TrustOnFirstUse(paramiko.MissingHostKeyPolicy):
    """Accept an unknown key once and record it in the known_hosts file; a *changed* key is
    still refused by paramiko itself (BadHostKeyException) before this policy is consulted."""

    def __init__(self, known_hosts: Path, log: CommandLog) -> None:
        self.known_hosts = known_hosts
        self.log = log

    def missing_host_key(self, client: paramiko.SSHClient, hostname: str, key: paramiko.PKey) -> None:
        self.known_hosts.parent.mkdir(parents=True, exist_ok=True)
        with open(self.known_hosts, "a", encoding="ascii") as fh:
            fh.write(f"{hostname} {key.get_name()} {key.get_base64()}\n")
        client.get_host_keys().add(hostname, key.get_name(), key)
        self.log.note(f"trust-on-first-use: recorded {key.get_name()} key of {hostname} "
                      f"({_fingerprint(key)}) in {self.known_hosts}")


class _RefuseUnknown(paramiko.MissingHostKeyPolicy):
    def __init__(self, known_hosts: Path) -> None:
        self.known_hosts = known_hosts

    def missing_host_key(self, client: paramiko.SSHClient, hostname: str, key: paramiko.PKey) -> None:
        raise HostKeyError(
            f"unknown host key for {hostname} ({key.get_name()} {_fingerprint(key)}): not in "
            f"{self.known_hosts}. Verify it and add it there, or set host_key_policy = \"tofu\" "
            "for this target to record it on first use"
        )


def _fingerprint(key: paramiko.PKey) -> str:
    return key.fingerprint if hasattr(key, "fingerprint") else key.get_fingerprint().hex()


class _Collector:
    """Collects one stream up to a byte limit while looking for the end marker.

    Output beyond the limit is counted and dropped (never held in memory); a window as long as the
    marker is kept unfolded so a marker split across reads is still found.
    """

    def __init__(self, marker: bytes, limit: int, needs_line: bool) -> None:
        self.marker = marker
        self.limit = limit
        self.needs_line = needs_line  # stdout's marker is followed by "<rc>\n"
        self.head = bytearray()
        self.window = bytearray()
        self.dropped = 0
        self.trailer: bytes | None = None

    @property
    def done(self) -> bool:
        return self.trailer is not None and (not self.needs_line or b"\n" in self.trailer)

    def feed(self, data: bytes) -> None:
        if self.trailer is not None:
            self.trailer += data
            return
        self.window += data
        at = self.window.find(self.marker)
        if at >= 0:
            self._keep(self.window[:at])
            self.trailer = bytes(self.window[at + len(self.marker):])
            self.window.clear()
            return
        spare = len(self.marker) - 1
        if len(self.window) > spare:
            cut = len(self.window) - spare
            self._keep(self.window[:cut])
            del self.window[:cut]

    def _keep(self, chunk: bytes | bytearray) -> None:
        room = max(0, self.limit - len(self.head))
        self.head += chunk[:room]
        self.dropped += max(0, len(chunk) - room)

    def text(self) -> str:
        body = bytes(self.head) + (bytes(self.window) if self.trailer is None else b"")
        out = body.decode("utf-8", "replace")
        if self.dropped:
            out += f"\n[xch: output truncated, {self.dropped} bytes dropped]\n"
        return out

    def exit_code(self) -> int | None:
        if self.trailer is None:
            return None
        line = self.trailer.split(b"\n", 1)[0].strip()
        return int(line) if line.isdigit() else None


class SSHConnection:
    """A target reached over SSH. Not thread-safe: one connection per target per worker."""

    def __init__(self, target: Target, jump: SSHConnection | None = None,
                 log: CommandLog | None = None, output_limit: int = DEFAULT_OUTPUT_LIMIT,
                 sleep: Callable[[float], None] = time.sleep) -> None:
        self.target = target
        self.name = target.name
        self.jump = jump
        self.masker = Masker()
        self.log = log or CommandLog(None, self.masker)
        self.log.mask = self.masker
        self.output_limit = output_limit
        self._sleep = sleep
        self._password = os.environ.get(target.password_env) if target.password_env else None
        self._passphrase = os.environ.get(target.passphrase_env) if target.passphrase_env else None
        self.masker.add(self._password)
        self.masker.add(self._passphrase)
        self._client: paramiko.SSHClient | None = None
        self._shell: paramiko.Channel | None = None
        self._sftp: paramiko.SFTPClient | None = None
        self._pidfile = f"/tmp/.xch-{secrets.token_hex(6)}.pid"

    # -- connecting -------------------------------------------------------------------------
    def connect(self) -> None:
        """Open the SSH connection, retrying network failures with backoff (never auth or host-key ones)."""
        if self._client is not None and self._client.get_transport() and self._client.get_transport().is_active():
            return
        self._drop_client()  # a dead transport's shell and SFTP channels die with it
        last: Exception | None = None
        delay = 0.5
        for attempt in range(1, CONNECT_ATTEMPTS + 1):
            try:
                self._client = self._open_client()
                self.log.note(f"connected to {self.target.user}@{self.target.host}:{self.target.port}"
                              + (f" via {self.jump.name}" if self.jump else "") + f" (attempt {attempt})")
                return
            except (HostKeyError, paramiko.AuthenticationException) as exc:
                self._client = None
                raise self._describe(exc) from None
            except paramiko.BadHostKeyException as exc:
                self._client = None
                raise self._describe(exc) from None
            except (OSError, EOFError, paramiko.SSHException, TransportError) as exc:
                self._client = None
                last = exc
                if attempt < CONNECT_ATTEMPTS:
                    self.log.note(f"connect attempt {attempt} failed: {exc}; retrying in {delay:.1f}s")
                    self._sleep(delay)
                    delay *= 2
        raise self._describe(last) from None  # type: ignore[arg-type]

    def _known_hosts_path(self) -> Path:
        return Path(self.target.known_hosts) if self.target.known_hosts else Path.home() / ".ssh" / "known_hosts"

    def _open_client(self) -> paramiko.SSHClient:
        t = self.target
        client = paramiko.SSHClient()
        known = self._known_hosts_path()
        if known.is_file():
            client.load_host_keys(str(known))
        if t.host_key_policy == "tofu":
            client.set_missing_host_key_policy(_TrustOnFirstUse(known, self.log))
        else:
            client.set_missing_host_key_policy(_RefuseUnknown(known))
        sock = None
        if self.jump is not None:
            self.jump.connect()
            jump_transport = self.jump._client.get_transport()  # type: ignore[union-attr]
            sock = jump_transport.open_channel("direct-tcpip", (t.host, t.port), ("127.0.0.1", 0),
                                               timeout=t.connect_timeout)
        pkey_file = t.identity_file or None
        try:
            client.connect(
                hostname=t.host, port=t.port, username=t.user, key_filename=pkey_file,
                password=self._password, passphrase=self._passphrase,
                allow_agent=t.use_agent, look_for_keys=not pkey_file and t.use_agent,
                timeout=t.connect_timeout, banner_timeout=t.connect_timeout,
                auth_timeout=t.connect_timeout, sock=sock,
            )
        except BaseException:
            client.close()
            raise
        transport = client.get_transport()
        transport.set_keepalive(15)  # type: ignore[union-attr]
        # paramiko leaves Nagle's algorithm on: with delayed ACKs a reply that spans several
        # packets then stalls ~40 ms (measured in benchmarks/transport_overhead.py). A jump-host
        # tunnel is a channel, not a socket, and has no such option.
        if isinstance(transport.sock, socket.socket):  # type: ignore[union-attr]
            transport.sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)  # type: ignore[union-attr]
        return client

    def _describe(self, exc: Exception) -> TransportError:
        """A one-line, secret-free explanation of why the target cannot be reached."""
        t = self.target
        where = f"{t.name} ({t.user}@{t.host}:{t.port})"
        if isinstance(exc, TransportError):
            return type(exc)(self.masker(f"{where}: {exc.message}"))
        if isinstance(exc, paramiko.BadHostKeyException):
            return HostKeyError(
                f"{where}: HOST KEY CHANGED: the server offered {exc.key.get_name()} "
                f"{_fingerprint(exc.key)} but {self._known_hosts_path()} expects "
                f"{_fingerprint(exc.expected_key)}. Refusing to connect: this may be an attack or a "
                "reinstalled machine; verify it, then remove the old line from known_hosts"
            )
        if isinstance(exc, paramiko.AuthenticationException):
            how = "identity file " + t.identity_file if t.identity_file else "agent/default keys"
            return TransportError(self.masker(f"{where}: authentication failed as {t.user!r} using {how}: {exc}"))
        if isinstance(exc, (socket.timeout, TimeoutError)):
            return TransportError(f"{where}: unreachable: connection timed out after {t.connect_timeout:g}s "
                                  f"({CONNECT_ATTEMPTS} attempts)")
        if isinstance(exc, paramiko.ssh_exception.NoValidConnectionsError):
            causes = sorted({(e.strerror or str(e)).lower() for e in exc.errors.values()}) or ["no address answered"]
            return TransportError(f"{where}: unreachable: {'; '.join(causes)} ({CONNECT_ATTEMPTS} attempts)")
        if isinstance(exc, ConnectionRefusedError):
            return TransportError(f"{where}: unreachable: connection refused ({CONNECT_ATTEMPTS} attempts)")
        if isinstance(exc, OSError) and exc.strerror:
            return TransportError(f"{where}: unreachable: {exc.strerror.lower()} ({CONNECT_ATTEMPTS} attempts)")
        return TransportError(self.masker(f"{where}: unreachable: {type(exc).__name__}: {exc} "
                                          f"({CONNECT_ATTEMPTS} attempts)"))

    # -- the persistent shell ------------------------------------------------------------------
    def _open_shell(self) -> paramiko.Channel:
        self.connect()
        assert self._client is not None
        try:
            channel = self._client.get_transport().open_session(timeout=self.target.connect_timeout)  # type: ignore[union-attr]
            program = "exec sudo -n /bin/sh" if self.elevated else "exec /bin/sh"
            channel.exec_command(program)
            ready = f"__XCH_READY_{secrets.token_hex(8)}__"
            channel.sendall(shell.session_init(self._pidfile, ready).encode())
            collector = _Collector(ready.encode() + b"\n", 4096, needs_line=False)
            err = bytearray()
            deadline = time.monotonic() + self.target.connect_timeout
            while not collector.done:
                if not _wait_readable(channel, deadline):
                    raise TransportError(f"{self.name}: remote shell did not start within {self.target.connect_timeout:g}s")
                if channel.recv_stderr_ready():
                    err += channel.recv_stderr(4096)
                if channel.recv_ready():
                    data = channel.recv(65536)
                    if not data:
                        raise TransportError(f"{self.name}: remote shell exited at start: {err.decode('utf-8', 'replace').strip()}")
                    collector.feed(data)
                elif channel.closed or channel.exit_status_ready():
                    raise TransportError(f"{self.name}: remote shell exited at start: {err.decode('utf-8', 'replace').strip()}")
        except (OSError, EOFError, paramiko.SSHException) as exc:
            self._drop_client()
            raise TransportError(f"{self.name}: cannot open a remote shell: {exc}") from None
        return channel

    def run(self, command: str, timeout: float | None = None) -> RunResult:
        """Run one command in a fresh subshell of the persistent shell; never retried."""
        timeout = self.target.command_timeout if timeout is None else timeout
        if self._shell is None or self._shell.closed:
            self._shell = self._open_shell()
        channel = self._shell
        nonce = secrets.token_hex(8)
        marker = shell.end_marker(nonce).encode()
        out = _Collector(marker, self.output_limit, needs_line=True)
        err = _Collector(marker, self.output_limit, needs_line=False)
        self._drain_stray(channel)
        started = time.monotonic()
        timed_out = False
        try:
            channel.sendall(shell.framed_command(command, nonce).encode())
            deadline = started + timeout
            while not (out.done and err.done):
                if not _wait_readable(channel, deadline):
                    if timed_out:  # the kill did not bring the marker back: the shell is stuck
                        self._reset_shell()
                        break
                    timed_out = True
                    if not self._kill_running():
                        self._drop_client()
                        raise TransportError(
                            f"{self.name}: target stopped answering: {self.masker(command)!r} got no reply within "
                            f"{timeout:g}s and no channel could be opened to kill it")
                    deadline = time.monotonic() + KILL_GRACE_S
                    continue
                _drain(channel, out, err)
                if channel.closed or (channel.eof_received and not channel.recv_ready()
                                      and not channel.recv_stderr_ready() and not (out.done and err.done)):
                    self._shell = None
                    raise TransportError(f"{self.name}: connection lost while running {self.masker(command)!r}")
        except (OSError, EOFError, paramiko.SSHException) as exc:
            self._shell = None
            self._drop_client()
            raise TransportError(f"{self.name}: connection lost while running {self.masker(command)!r}: {exc}") from None
        except TransportError:
            raise
        except BaseException:
            # Interrupted while waiting (--check-timeout's SIGALRM, Ctrl-C): the command still runs
            # in the persistent shell and its output would land in the next command. Kill it and
            # drop the shell, then let the interruption go on.
            self.log.note(f"interrupted while running {command!r}: killing it and closing the shell")
            try:
                self._kill_running()
            finally:
                self._reset_shell()
            raise
        elapsed = time.monotonic() - started
        rc = out.exit_code()
        result = RunResult(
            command=command, rc=-1 if rc is None else rc, stdout=out.text(), stderr=err.text(),
            elapsed=elapsed, timed_out=timed_out, truncated=bool(out.dropped or err.dropped), target=self.name,
        )
        self.log.command(command, result.rc, elapsed, result.stdout, result.stderr, timed_out, result.truncated)
        return result

    def _drain_stray(self, channel: paramiko.Channel) -> None:
        """Output that arrived between commands comes from a background process an earlier command
        left running; log it rather than let it pass as the next command's output."""
        stray_out, stray_err = bytearray(), bytearray()
        while channel.recv_ready():
            stray_out += channel.recv(65536)
        while channel.recv_stderr_ready():
            stray_err += channel.recv_stderr(65536)
        if stray_out or stray_err:
            self.log.note("output from a background process of an earlier command (not part of the next one): "
                          f"stdout={bytes(stray_out[:2000]).decode('utf-8', 'replace')!r} "
                          f"stderr={bytes(stray_err[:2000]).decode('utf-8', 'replace')!r}")

    def _kill_running(self) -> bool:
        """Kill the running command's process tree through a separate channel; False if the
        target did not even answer (then the connection, not the command, is what hangs)."""
        kill = shell.kill_tree_command(self._pidfile)
        if self.elevated:
            kill = shell.command("sudo", "-n", "sh", "-c", kill)
        try:
            channel = self._client.get_transport().open_session(timeout=self.target.connect_timeout)  # type: ignore[union-attr]
            channel.settimeout(KILL_GRACE_S)
            channel.exec_command(kill)
            # recv_exit_status() ignores the channel timeout: wait on the event, bounded.
            finished = channel.status_event.wait(KILL_GRACE_S)
            channel.close()
            self.log.note("command timed out: killed its process tree" if finished
                          else "command timed out: kill sent, no answer within the grace period")
            return True
        except Exception as exc:  # the shell will be reset if the marker does not come back
            self.log.note(f"command timed out; kill failed, the target stopped answering: {exc}")
            return False

    def _reset_shell(self) -> None:
        if self._shell is not None:
            self._shell.close()
        self._shell = None
        self.log.note("remote shell did not recover after a timeout; it was closed and will be reopened")

    # -- files -----------------------------------------------------------------------------
    def _sftp_client(self) -> paramiko.SFTPClient:
        self.connect()
        if self._sftp is None:
            try:
                self._sftp = self._client.open_sftp()  # type: ignore[union-attr]
            except (OSError, EOFError, paramiko.SSHException) as exc:
                raise TransportError(f"{self.name}: cannot open SFTP: {exc}") from None
            # Without this a transfer over a dead link blocks until TCP gives up (~15 min).
            self._sftp.get_channel().settimeout(self.target.command_timeout)
        return self._sftp

    @property
    def elevated(self) -> bool:
        """Commands run as root through `sudo -n`, while SFTP still runs as the login user."""
        return bool(self.target.sudo and self.target.user != "root")

    def put(self, local: str | Path, remote: str) -> None:
        """Upload a file. Through sudo, SFTP (the login user) writes a staging file in /tmp that the
        root shell then moves into place and hands to root, so any destination works, as it does for root."""
        if not self.elevated:
            self._sftp_put(local, remote)
        else:
            staging = f"/tmp/.xch-put-{secrets.token_hex(8)}"
            try:
                self._sftp_put(local, staging)
            except TransportError:
                self.run(f"rm -f {shell.quote(staging)}", timeout=60)  # a partial upload
                raise
            moved = self.run(f"mv -f {shell.quote(staging)} {shell.quote(remote)} && chown 0:0 {shell.quote(remote)}",
                             timeout=120)
            if not moved.ok:
                self.run(f"rm -f {shell.quote(staging)}", timeout=60)
                raise TransportError(f"{self.name}: upload {local} -> {remote} failed: moving it into place as root: "
                                     f"{(moved.stderr or moved.stdout).strip()[-300:]}")
        self.log.note(f"uploaded {local} -> {remote}")

    def get(self, remote: str, local: str | Path) -> None:
        """Download a file (through sudo: copied by root to a staging file the login user may read)."""
        if not self.elevated:
            self._sftp_get(remote, local)
        else:
            staging = f"/tmp/.xch-get-{secrets.token_hex(8)}"
            copied = self.run(f"(umask 077 && cp {shell.quote(remote)} {shell.quote(staging)}) && "
                              f"chown {shell.quote(self.target.user)} {shell.quote(staging)}", timeout=120)
            try:
                if not copied.ok:
                    raise TransportError(f"{self.name}: download {remote} -> {local} failed: "
                                         f"{(copied.stderr or copied.stdout).strip()[-300:]}")
                self._sftp_get(staging, local)
            finally:
                self.run(f"rm -f {shell.quote(staging)}", timeout=60)
        self.log.note(f"downloaded {remote} -> {local}")

    def _sftp_put(self, local: str | Path, remote: str) -> None:
        try:
            self._sftp_client().put(str(local), remote)
        except (OSError, EOFError, paramiko.SSHException) as exc:
            self._sftp_failed(exc)
            raise TransportError(f"{self.name}: upload {local} -> {remote} failed: {exc or type(exc).__name__}") from None

    def _sftp_get(self, remote: str, local: str | Path) -> None:
        try:
            self._sftp_client().get(remote, str(local))
        except (OSError, EOFError, paramiko.SSHException) as exc:
            self._sftp_failed(exc)
            raise TransportError(f"{self.name}: download {remote} -> {local} failed: {exc or type(exc).__name__}") from None

    def _sftp_failed(self, exc: BaseException) -> None:
        self._sftp = None  # never reuse an SFTP session after an error
        if isinstance(exc, (socket.timeout, TimeoutError)):
            self._drop_client()  # the link is dead or stalled: reconnect next time

    # -- teardown ----------------------------------------------------------------------------
    def _drop_client(self) -> None:
        if self._client is not None:
            self._client.close()
        self._client = None
        self._sftp = None
        self._shell = None

    def close(self) -> None:
        if self._shell is not None and not self._shell.closed:
            try:
                self._shell.sendall(f"rm -f {shell.quote(self._pidfile)}; exit 0\n".encode())
            except Exception:
                pass
        self._drop_client()


def _wait_readable(channel: paramiko.Channel, deadline: float) -> bool:
    """Wait until the channel has data (either stream) or closes; False at the deadline."""
    if channel.recv_ready() or channel.recv_stderr_ready() or channel.closed:
        return True
    remaining = deadline - time.monotonic()
    if remaining <= 0:
        return False
    ready, _, _ = select.select([channel], [], [], remaining)
    return bool(ready) or channel.recv_ready() or channel.recv_stderr_ready()


def _drain(channel: paramiko.Channel, out: _Collector, err: _Collector) -> None:
    while channel.recv_stderr_ready():
        err.feed(channel.recv_stderr(65536))
    while channel.recv_ready():
        data = channel.recv(65536)
        if not data:
            break
        out.feed(data)
