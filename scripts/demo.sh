#!/usr/bin/env bash
# The main job end to end on the built-in lab (run by `make demo` after the lab is up):
# targets answer with their facts -> smoke suite in parallel -> certify a real product on both
# lab targets (compat, perf, migration) -> certify mosquitto on the lab VMs in parallel -> compile the runs into the
# whitelist database -> query it (-> build the report site).
set -euo pipefail
XCH=${XCH:-.venv/bin/xch}
step() { printf '\n== %s ==\n' "$*"; }

step "targets and their platform facts"
$XCH targets check

step "smoke suite on every chroot lab target, in parallel"
smoke_dir=results/demo-smoke-$(date -u +%Y%m%dT%H%M%SZ)
$XCH run --suite smoke -n 2 --inventory targets/lab.toml --run-dir "$smoke_dir"

step "certify redis (real Debian arm64 and amd64 packages) on lab-arm64 and lab-x86: compat, then perf and migration"
# products/redis-server asks for perf (redis-benchmark against the x86 baseline, service levels) and
# migration (behaviour parity with the x86 baseline): about 3 minutes, most of it qemu emulation.
cert_dir=results/demo-certify-redis-$(date -u +%Y%m%dT%H%M%SZ)
$XCH certify products/redis-server --targets lab=true --run-dir "$cert_dir" || echo "(certify reported problems: see the verdicts above)"

vm_runs=()
if [ -f targets/lab-vm.toml ]; then
  step "certify mosquitto on the lab VMs (vm-arm64 under TCG, vm-x86), both at once: each VM has its own network"
  # --fresh returns both VMs to their base images first; systemd supervises the broker (kill -9 recovery).
  vm_dir=results/demo-certify-mosquitto-vm-$(date -u +%Y%m%dT%H%M%SZ)
  $XCH certify products/mosquitto --targets kind=vm -n 2 --fresh --suites none --run-dir "$vm_dir" \
    || echo "(certify reported problems: see the verdicts above)"
  vm_runs=("$vm_dir")
else
  step "no lab VMs: targets/lab-vm.toml is missing (\`make lab-vm\` or \`xch lab up --vm\`, as root, builds and boots them)"
fi

step "compile the runs into the whitelist database (whitelist/whitelist.db)"
$XCH whitelist compile "$cert_dir" "${vm_runs[@]}" --lab demo-lab

step "the whitelist"
$XCH whitelist query

if $XCH report --help >/dev/null 2>&1; then
  step "the report site"
  parity=()  # certify's migration sub-runs: the report's migration page shows their differences
  for run in "$cert_dir"/suites/migration-*; do [ -d "$run" ] && parity+=(--parity-run "$run"); done
  $XCH report build --out reports/site "${parity[@]}"
  echo "open reports/site/index.html in a browser (or: $XCH report serve)"
fi
echo
echo "lab-arm64 runs under qemu-user emulation and vm-arm64 under qemu TCG: their results are real, their timings"
echo "are emulation, not ARM silicon."
