"""The one place that builds shell command text.

Values from manifests and inventories never reach a shell unquoted: callers pass argv lists to
`command()`, and the framing that drives a persistent remote shell hands the user's command to
`eval` as a single quoted word, so even a syntax error stays inside its own subshell.
"""

from __future__ import annotations

import shlex

# PATH for remote shells: non-login SSH sessions often lack the sbin directories that
# ldconfig, ss, ip, sshd and service tools live in.
REMOTE_PATH = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"


def quote(value: object) -> str:
    """Quote one value for a POSIX shell."""
    return shlex.quote(str(value))


def command(*argv: object) -> str:
    """Join argv into one shell command line, every word quoted."""
    return " ".join(quote(a) for a in argv)


def pipeline(*commands: str) -> str:
    """Join already-built commands with pipes."""
    return " | ".join(commands)


def env_prefix(env: dict[str, str]) -> str:
    """`K=V ` prefix with the values quoted; keys must be identifiers."""
    for key in env:
        if not key.isidentifier():
            raise ValueError(f"not a valid environment variable name: {key!r}")
    return "".join(f"{k}={quote(v)} " for k, v in env.items())


def session_init(pidfile: str, ready_marker: str) -> str:
    """First line sent to a persistent shell: sane PATH and locale, then a readiness marker."""
    return (
        f"PATH={REMOTE_PATH}:$PATH; export PATH; LC_ALL=C; export LC_ALL; "
        f"__xch_pf={quote(pidfile)}; printf '%s\\n' {quote(ready_marker)}\n"
    )


def end_marker(nonce: str) -> str:
    """Text that ends a framed command's output on both streams; random per command."""
    return f"__XCH_END_{nonce}__:"


def framed_command(user_command: str, nonce: str) -> str:
    """One line for the persistent shell that runs `user_command` isolated and framed.

    The command runs in a background subshell (`( eval ... ) &`) so that no state leaks (cd,
    variables, `exit`), its stdin is /dev/null so it cannot eat the next command, its pid goes to
    the session's pid file so a timeout can kill just that command's process tree, and the exit
    status follows a unique marker on stdout; a bare marker ends stderr. The pid file is emptied
    after the wait, so a later timeout can never kill a finished command's (reused) pid. Only
    builtins run in the wrapper: a fork is the whole overhead, which matters on emulated targets
    where exec is slow.

    Limits, by design of one shared shell: `$$` in a command is the session shell's pid (`kill $$`
    ends the session, which is then reopened), and output of a background process that outlives
    its command arrives later; the transport logs it as stray output instead of passing it on.
    """
    marker = quote(end_marker(nonce))
    return (
        f"( eval {quote(user_command)} ) </dev/null & __xch_p=$!; "
        f"echo $__xch_p 2>/dev/null >\"$__xch_pf\"; wait $__xch_p; __xch_rc=$?; printf '' 2>/dev/null >\"$__xch_pf\"; "
        f"printf '%s%d\\n' {marker} $__xch_rc; printf '%s' {marker} >&2\n"
    )


def kill_tree_command(pidfile: str) -> str:
    """Stop then kill the process whose pid is in `pidfile` and all its descendants.

    Descendants are found through /proc/<pid>/task/*/children before anything is killed (a killed
    parent's children are re-parented and would be lost). SIGSTOP first so nothing forks meanwhile.
    """
    return (
        f"p=$(cat {quote(pidfile)} 2>/dev/null) || exit 0; [ -n \"$p\" ] || exit 0; "
        "d() { for c in $(cat /proc/$1/task/*/children 2>/dev/null); do echo $c; d $c; done; }; "
        "all=\"$p $(d $p)\"; kill -STOP $all 2>/dev/null; kill -KILL $all 2>/dev/null; "
        "kill -CONT $all 2>/dev/null; exit 0"
    )
