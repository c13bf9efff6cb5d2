"""Scripts (shell, Python, Ruby, Perl): direct access to x86-only devices, /dev/cpu/N/msr and cpuid,
and msr-tools' rdmsr/wrmsr commands.

A tool that reads model-specific registers through the msr driver (msr-tools, i7z's helper
scripts) loses that function on aarch64, whatever language it is written in. Comment lines are
skipped; everything else in a script is not a porting question this scan can judge.
"""

from __future__ import annotations

from harness.scan import patterns as P
from harness.scan.model import Finding
from harness.scan.rules import rule
from harness.scan.source_c import snippet

SCRIPT_SUFFIXES = {".sh", ".bash", ".py", ".rb", ".pl", ".pm", ".ksh", ".zsh"}


def scan_script(display: str, text: str) -> list[Finding]:
    findings = []
    r = rule("x86-msr-access")
    for number, line in enumerate(text.split("\n"), start=1):
        if not ("/dev/cpu" in line or "modprobe" in line or "msr" in line) or line.lstrip().startswith(("#", "//")):
            continue
        match = P.X86_MSR_DEVICE.search(line) or P.MSR_TOOL_COMMAND.search(line)
        if match and not P.MESSAGE_CALL.search(line[:match.start()]):
            findings.append(Finding(r.id, r.severity, display, number, snippet(line), r.suggestion))
    return findings
