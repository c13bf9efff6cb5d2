#!/bin/sh
# xch compat suite: qemu-user emulation accommodation (installed only on targets where it is needed).
# Under qemu-user, /proc/PID/exe of an emulated process names the emulator, so
# `start-stop-daemon --stop/--status --exec BINARY` never finds the daemon and init scripts cannot
# stop what they started. For --stop and --status this wrapper replaces --exec BINARY:
# - with --pidfile: by --name (comm, which qemu-user keeps as the program's name); the pid file
#   already says which process, the name check stays;
# - without: by --pid for each emulated process that runs BINARY (qemu keeps the program path as
#   argv[1]), one call each, so a script named like the daemon is never taken for it.
# Every other option (--user, --retry, --signal, ...) still applies.
# --start, and calls that find no emulated process, go to the real program unchanged.
# The real program is start-stop-daemon.xch-real next to this file.
real="$(dirname "$0")/start-stop-daemon.xch-real"
action=start
exe=""
prev=""
pidfile=0
for arg do
  case $arg in
    -K|--stop|-T|--status) action=stop ;;
    --exec=*) exe=${arg#--exec=} ;;
    -p|--pidfile|--pidfile=*) pidfile=1 ;;
  esac
  case $prev in -x|--exec) exe=$arg ;; esac
  prev=$arg
done
[ "$action" = stop ] && [ -n "$exe" ] || exec "$real" "$@"

want=$(readlink -f "$exe" 2>/dev/null || echo "$exe")
base=$(basename "$exe" | cut -c1-15)
if [ "$pidfile" = 1 ]; then
  skip=0
  for arg do
    shift
    if [ "$skip" = 1 ]; then skip=0; set -- "$@" --name "$base"; continue; fi
    case $arg in
      -x|--exec) skip=1; continue ;;
      --exec=*) set -- "$@" --name "$base"; continue ;;
    esac
    set -- "$@" "$arg"
  done
  exec "$real" "$@"
fi
pids=""
for d in /proc/[0-9]*; do
  c=""
  { read -r c < "$d/comm"; } 2>/dev/null || continue
  [ "$c" = "$base" ] || continue
  set -f
  first=$(tr '\0' '\n' < "$d/cmdline" 2>/dev/null | sed -n 1p)
  prog=$(tr '\0' '\n' < "$d/cmdline" 2>/dev/null | sed -n 2p)
  set +f
  case $first in *qemu*) ;; *) continue ;; esac
  [ "$(readlink -f "$prog" 2>/dev/null || echo "$prog")" = "$want" ] && pids="$pids ${d#/proc/}"
done
[ -n "$pids" ] || exec "$real" "$@"

saved=""
for arg do
  q=$(printf '%s' "$arg" | sed "s/'/'\\\\''/g")
  saved="$saved '$q'"
done
rc=1
for pid in $pids; do
  eval "set -- $saved"
  skip=0
  # The same arguments with --exec BINARY replaced by --pid PID.
  for arg do
    shift
    if [ "$skip" = 1 ]; then skip=0; set -- "$@" --pid "$pid"; continue; fi
    case $arg in
      -x|--exec) skip=1; continue ;;
      --exec=*) set -- "$@" --pid "$pid"; continue ;;
    esac
    set -- "$@" "$arg"
  done
  rc_one=0
  "$real" "$@" || rc_one=$?
  if [ "$rc_one" = 0 ]; then rc=0; elif [ "$rc" != 0 ]; then rc=$rc_one; fi
done
exit $rc
