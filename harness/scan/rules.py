"""The rule catalogue: every rule a scanner may report, its default severity, advice and effort.

Scanners only say *where* a rule matched and may lower or raise the severity with a reason (an
x86 branch that has an ARM sibling is fine; an `#error` in the non-x86 branch stops the build).
Advice is bilingual because the report goes to porting teams and their managers alike.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Rule:
    id: str
    severity: str  # default severity
    title: str  # English / 中文
    suggestion: str  # English / 中文
    effort_first: float  # hours for the first finding of this rule in a file
    effort_more: float  # hours for each further finding in the same file


_RULES = [
    Rule("x86-intrinsic", "blocker", "x86 SIMD/ISA intrinsic / x86 内建函数",
         "Port to NEON/SVE intrinsics (arm_neon.h), or use a portability layer (SIMDe, sse2neon), or a scalar "
         "fallback / 改写为 NEON/SVE 内建函数，或使用 SIMDe、sse2neon 兼容层，或提供标量实现", 2.0, 0.1),
    Rule("x86-intrinsic-header", "blocker", "x86 intrinsic header / x86 内建函数头文件",
         "Include it only under an x86 guard and add an `#elif defined(__aarch64__)` path with arm_neon.h / "
         "仅在 x86 条件下包含，并增加 aarch64 分支（arm_neon.h）", 0.5, 0.25),
    Rule("x86-inline-asm", "blocker", "x86 inline assembly / x86 内联汇编",
         "Rewrite for AArch64 (e.g. rdtsc -> cntvct_el0, cpuid -> getauxval(AT_HWCAP), pause -> yield) or use a "
         "compiler builtin / 改写为 AArch64 汇编或编译器内建函数（rdtsc→cntvct_el0，cpuid→getauxval）", 2.0, 1.0),
    Rule("x86-msr-access", "blocker", "x86 model-specific registers via /dev/cpu/*/msr / 通过 /dev/cpu/*/msr 访问 x86 MSR",
         "The msr and cpuid drivers exist only on x86 Linux: read frequencies and temperatures from sysfs "
         "(cpufreq, hwmon, thermal), counters through perf_event_open, CPU identity from /proc/cpuinfo or "
         "MIDR_EL1 via getauxval(AT_HWCAP) / msr、cpuid 驱动仅存在于 x86 Linux：频率与温度改用 sysfs（cpufreq、hwmon、"
         "thermal），计数器改用 perf_event_open，CPU 信息改用 /proc/cpuinfo 或 MIDR_EL1", 4.0, 0.25),
    Rule("x86-asm-file", "blocker", "x86 assembly source file / x86 汇编源文件",
         "Provide an AArch64 implementation (a *_arm64.S / *_neon.c sibling) or a portable C fallback selected by "
         "the build / 提供 AArch64 实现（*_arm64.S、*_neon.c）或由构建选择的 C 语言实现", 8.0, 0.0),
    Rule("arch-macro-no-arm", "warning", "x86 architecture macro without an ARM branch / 架构宏缺少 ARM 分支",
         "Add an `#elif defined(__aarch64__)` (or `__ARM_NEON`) branch; check that the generic fallback is correct "
         "and fast enough / 增加 `#elif defined(__aarch64__)` 分支，并确认通用实现正确且性能可接受", 1.0, 0.5),
    Rule("error-non-x86", "blocker", "#error in the non-x86 branch / 非 x86 分支中的 #error",
         "The build stops on aarch64: replace the #error with an AArch64 or generic implementation / "
         "在 aarch64 上编译会失败：以 AArch64 或通用实现替换该 #error", 0.5, 0.5),
    Rule("build-x86-flag", "blocker", "x86-only compiler flag (-m<feature>) / x86 专用编译选项",
         "GCC/Clang for aarch64 reject it: make it conditional on the x86 target, or use -march=armv8-a+simd / "
         "-mcpu=tsv110 (Kunpeng 920) on aarch64 / aarch64 编译器不接受该选项：改为仅 x86 生效，aarch64 使用 "
         "-march=armv8-a 或 -mcpu=tsv110", 0.5, 0.1),
    Rule("build-march-x86", "blocker", "x86 -march/-mtune value / x86 的 -march/-mtune 取值",
         "Use -march=armv8.2-a / -mcpu=tsv110 (Kunpeng 920) or -mcpu=native on aarch64, under an architecture "
         "condition / 在架构条件下为 aarch64 使用 -march=armv8.2-a 或 -mcpu=tsv110", 0.5, 0.1),
    Rule("build-x86-define", "blocker", "x86 macro defined on aarch64 builds / aarch64 构建也定义了 x86 宏",
         "The build derives an x86 macro from a test aarch64 also passes (`getconf LONG_BIT` is 64 there too, "
         "or no test at all), which routes aarch64 into x86 code: test the architecture (uname -m = x86_64, "
         "CMAKE_SYSTEM_PROCESSOR) instead / 构建依据 aarch64 同样满足的条件（如 getconf LONG_BIT 为 64）定义了 x86 宏，"
         "使 aarch64 进入 x86 代码：改为判断架构（uname -m、CMAKE_SYSTEM_PROCESSOR）", 0.5, 0.25),
    Rule("build-cmake-processor", "warning", "CMAKE_SYSTEM_PROCESSOR test without aarch64 / 处理器判断缺少 aarch64",
         "Add an aarch64/arm64 branch to the CMAKE_SYSTEM_PROCESSOR test / 在 CMAKE_SYSTEM_PROCESSOR 判断中增加 "
         "aarch64/arm64 分支", 1.0, 0.5),
    Rule("build-config-guess", "blocker", "config.guess/config.sub too old for aarch64 / config.guess 过旧",
         "Regenerate with `autoreconf -fi` or copy current config.guess/config.sub from /usr/share/misc "
         "(autotools-dev) / 使用 autoreconf -fi 重新生成，或从 /usr/share/misc 复制新版本", 0.5, 0.0),
    Rule("x86-only-library", "blocker", "x86-only library (MKL, IPP, SVML) / 仅 x86 的库",
         "Replace with an ARM-ready library: OpenBLAS / Kunpeng KML / Arm Performance Libraries for MKL, "
         "Kunpeng KAE or OpenSSL for IPP-Crypto / 替换为 OpenBLAS、鲲鹏 KML、Arm Performance Libraries 等", 16.0, 1.0),
    Rule("python-pin-pre-arm64", "warning", "Python package pinned below its first aarch64 wheel / Python 包版本过旧",
         "Raise the pin to a release with manylinux aarch64 wheels, or expect a source build on aarch64 / "
         "升级到提供 aarch64 wheel 的版本，否则需在 aarch64 上源码编译", 1.0, 0.5),
    Rule("python-wheel-x86", "blocker", "x86-only Python wheel / 仅 x86 的 Python wheel",
         "Obtain or build the aarch64 wheel (manylinux_2_17_aarch64) / 获取或构建 aarch64 版本的 wheel", 2.0, 1.0),
    Rule("java-native-no-arm", "blocker", "Java archive bundles native code without aarch64 / Java 包缺少 aarch64 本地库",
         "Add the linux-aarch64 native library to the archive (or upgrade to a release that has it) / "
         "在包中加入 linux-aarch64 本地库，或升级到提供该库的版本", 8.0, 1.0),
    Rule("go-asm-no-arm", "warning", "Go assembly for amd64 without arm64 / Go 汇编缺少 arm64 实现",
         "Add a *_arm64.s implementation or make sure a pure-Go fallback (build tag !amd64) exists / "
         "增加 *_arm64.s 实现或提供纯 Go 实现（构建标签 !amd64）", 4.0, 1.0),
    Rule("already-ported", "info", "has an ARM path (already ported) / 已有 ARM 实现",
         "Check that the ARM path is built and tested on the target / 确认 ARM 分支在目标平台上被编译并测试", 0.0, 0.0),
    Rule("elf-arch-mismatch", "blocker", "ELF built for another architecture / ELF 架构与目标不符",
         "Rebuild for the target architecture or obtain the vendor's aarch64 build / 为目标架构重新编译或向厂商获取 "
         "aarch64 版本", 8.0, 0.5),
    Rule("elf-glibc-too-new", "blocker", "ELF needs a newer glibc than the target OS / ELF 需要的 glibc 高于目标系统",
         "Rebuild on (or for) the target OS's glibc, or on the oldest supported distribution / 在目标系统的 glibc "
         "上（或最老的受支持发行版上）重新编译", 4.0, 0.5),
    Rule("archive-unreadable", "warning", "archive or binary could not be read / 无法读取的归档或二进制",
         "Unpack it by hand and scan the contents / 手工解包后再扫描", 0.5, 0.0),
]

RULES: dict[str, Rule] = {r.id: r for r in _RULES}


def rule(rule_id: str) -> Rule:
    return RULES[rule_id]
