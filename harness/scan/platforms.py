"""The two builds a porting question compares, and what each one's compiler predefines.

A line of code matters for a port when the aarch64 build treats it differently from the x86_64
build the code comes from: x86 code that aarch64 compiles is a blocker, x86 code that only x86_64
compiles is covered by an ARM branch or falls back to generic code, and code neither compiles
(MSVC-only, MIPS, 32-bit x86, the x32 ABI) is not a porting question at all. Both builds are
Linux with GCC or Clang, LP64, little-endian: the targets xch certifies.

A macro's value per build is an int (defined, with that value), True (defined, value unknown),
False (not defined), or None (not known from the architecture alone: set by the build, by -m
flags, by the project).
"""

from __future__ import annotations

SOURCE = "x86_64"
TARGET = "aarch64"
BUILDS = (TARGET, SOURCE)

MacroValue = int | bool | None  # int: defined with value; True: defined; False: undefined; None: unknown

# Predefined by GCC/Clang for x86_64 Linux (baseline ISA: SSE2).
_X86_64_DEFINED = ("__x86_64__", "__x86_64", "__amd64__", "__amd64", "__SSE__", "__SSE2__", "__MMX__",
                   "__SSE_MATH__", "__SSE2_MATH__", "__FXSR__", "__code_model_small__", "__SEG_FS", "__SEG_GS")
# x86 feature macros beyond the baseline: set by -m flags, unknown on x86_64, never on aarch64.
_X86_FEATURES = ("__SSE3__", "__SSSE3__", "__SSE4_1__", "__SSE4_2__", "__SSE4A__", "__AVX__", "__AVX2__",
                 "__AVX512F__", "__AVX512BW__", "__AVX512CD__", "__AVX512DQ__", "__AVX512VL__", "__AVX512VBMI__",
                 "__AVX512VNNI__", "__AVXVNNI__", "__FMA__", "__FMA4__", "__F16C__", "__BMI__", "__BMI2__",
                 "__LZCNT__", "__POPCNT__", "__PCLMUL__", "__AES__", "__SHA__", "__RDRND__", "__RDSEED__",
                 "__XOP__", "__3dNOW__", "__3dNOW_A__", "__ADX__", "__MOVBE__", "__GFNI__", "__VAES__",
                 "__VPCLMULQDQ__", "__XSAVE__", "__CRC32__", "__tune_haswell__", "__haswell__",
                 "__skylake__", "__znver1__", "__znver2__", "__znver3__", "__k8__", "__nocona__", "__core2__",
                 "__corei7__", "__nehalem__", "__sandybridge__", "__ivybridge__", "__broadwell__",
                 "__skylake_avx512__", "__icelake_server__", "__sapphirerapids__")
# x86 names neither build defines: 32-bit x86, MSVC's x86 macros, other x86 spellings.
_X86_UNDEFINED = ("__i386__", "__i386", "i386", "__i486__", "__i586__", "__i686__", "_M_IX86", "_M_IX86_FP",
                  "_M_X64", "_M_AMD64", "_M_I86", "_M_X86", "__X86__", "_X86_", "__I86__", "__THW_INTEL__",
                  "__INTEL__", "_M_ARM64EC", "__x86_32__")
# x86-only compilers: possible on x86_64, not on aarch64.
_X86_COMPILERS = ("__INTEL_COMPILER", "__ICC", "__ICL", "__ECC", "__INTEL_LLVM_COMPILER")
_AARCH64_DEFINED = {"__aarch64__": 1, "__ARM_64BIT_STATE": 1, "__ARM_NEON": 1, "__ARM_ARCH": 8,
                    "__ARM_ARCH_8A": 1, "__ARM_ARCH_ISA_A64": 1, "__ARM_FP": 14, "__ARM_PCS_AAPCS64": 1,
                    "__ARM_ALIGN_MAX_STACK_PWR": 16, "__ARM_SIZEOF_WCHAR_T": 4, "__AARCH64EL__": 1,
                    "__ARM_ARCH_PROFILE": 65}
# ARM names the aarch64 Linux build may or may not define (feature flags, ACLE spellings).
_AARCH64_UNKNOWN = ("__ARM_NEON__", "__ARM_FEATURE_CRC32", "__ARM_FEATURE_CRYPTO", "__ARM_FEATURE_AES",
                    "__ARM_FEATURE_SHA2", "__ARM_FEATURE_SHA3", "__ARM_FEATURE_SVE", "__ARM_FEATURE_SVE2",
                    "__ARM_FEATURE_DOTPROD", "__ARM_FEATURE_FMA", "__ARM_FEATURE_ATOMICS",
                    "__ARM_FEATURE_UNALIGNED", "__ARM_FEATURE_CLZ", "__ARM_FEATURE_FP16_SCALAR_ARITHMETIC",
                    "__ARM_FEATURE_FP16_VECTOR_ARITHMETIC", "__ARM_FEATURE_BF16", "__ARM_FEATURE_MATMUL_INT8",
                    "__ARM_FEATURE_SM3", "__ARM_FEATURE_SM4", "__ARM_FEATURE_NUMERIC_MAXMIN",
                    "__ARM_FEATURE_DIRECTED_ROUNDING", "__ARM_FEATURE_QRDMX", "__ARM_FEATURE_FRINT",
                    "__ARM_FEATURE_SVE_BITS", "__ARM_FEATURE_MEMORY_TAGGING", "__ARM_FEATURE_BTI_DEFAULT",
                    "__ARM_FEATURE_PAC_DEFAULT", "__ARM_FEATURE_LDREX", "__ARM_FEATURE_SIMD32",
                    "__ARM_FEATURE_DSP", "__ARM_FEATURE_IDIV", "__ARM_FEATURE_SAT", "__ARM_FEATURE_JCVT",
                    "__ARM_FEATURE_COMPLEX", "__ARM_FEATURE_RNG", "__ARM_FEATURE_TME", "__ARM_FEATURE_SME",
                    "__ARM_ARCH_8_1A", "__ARM_ARCH_8_2A", "__ARM_ARCH_8_3A", "__ARM_ARCH_8_4A", "__ARM_ARCH_9A",
                    "__ARM_FP16_FORMAT_IEEE", "__ARM_FP16_ARGS", "__ARM_FEATURE_FP16_FML")
# ARM names neither build defines: 32-bit ARM, Apple's and MSVC's spellings.
_ARM_UNDEFINED = ("__arm__", "__arm", "__arm64__", "__arm64", "_M_ARM", "_M_ARM64", "_M_ARMT", "__thumb__",
                  "__thumb2__", "__ARMEL__", "__ARMEB__", "__AARCH64EB__", "__ARM_ARCH_7A__", "__ARM_ARCH_7__",
                  "__ARM_ARCH_6__", "__ARM_ARCH_6J__", "__ARM_ARCH_6K__", "__ARM_ARCH_6Z__", "__ARM_ARCH_6ZK__",
                  "__ARM_ARCH_6T2__", "__ARM_ARCH_7R__", "__ARM_ARCH_7M__", "__ARM_ARCH_7S__", "__ARM_ARCH_5TE__",
                  "__ARM_ARCH_5TEJ__", "__ARM_ARCH_7EM__", "__ARM_PCS_VFP", "__SOFTFP__", "__VFP_FP__")
# Other architectures: neither build defines them.
_OTHER_ARCH = ("__mips__", "__mips", "mips", "__mips64", "__mips64__", "__MIPSEL__", "__MIPSEB__", "_MIPS_ARCH",
               "__mips_msa", "__mips_loongson_mmi", "__mips_dsp", "__mips_dspr2", "_MIPS_SIM", "__mips_isa_rev",
               "__loongarch__", "__loongarch64", "__loongarch_lp64", "__loongarch_sx", "__loongarch_asx",
               "__powerpc__", "__powerpc", "__powerpc64__", "__POWERPC__", "__PPC__", "__PPC64__", "__ppc__",
               "__ppc64__", "__ppc", "_ARCH_PPC", "_ARCH_PPC64", "_ARCH_PWR7", "_ARCH_PWR8", "_ARCH_PWR9",
               "_M_PPC", "__ALTIVEC__", "__VSX__", "__VEC__", "__s390__", "__s390x__", "__zarch__", "__riscv",
               "__riscv_xlen", "__riscv_vector", "__sparc__", "__sparc", "__sparc_v9__", "__sparcv9", "__ia64__",
               "__ia64", "_M_IA64", "__IA64__", "__itanium__", "__alpha__", "__alpha", "_M_ALPHA", "__hppa__",
               "__hppa", "__m68k__", "__sh__", "__SH4__", "__e2k__", "__sw_64__", "__EMSCRIPTEN__", "__wasm__",
               "__wasm32__", "__wasm64__", "__wasm_simd128__", "__or1k__", "__arc__", "__xtensa__", "__nios2__",
               "__bfin__", "__AVR__", "__MSP430__", "__CUDA_ARCH__", "__HIP_DEVICE_COMPILE__")
# OS and compiler facts both builds share (Linux, GCC/Clang, ELF, LP64, little-endian).
_SHARED = {"__linux__": 1, "__linux": 1, "linux": 1, "__unix__": 1, "__unix": 1, "unix": 1, "__ELF__": 1,
           "__gnu_linux__": 1, "__GNUC__": True, "__GNUC_MINOR__": True, "__clang__": None, "__LP64__": 1, "_LP64": 1,
           "__SIZEOF_POINTER__": 8, "__SIZEOF_LONG__": 8, "__SIZEOF_SIZE_T__": 8, "__SIZEOF_LONG_LONG__": 8,
           "__SIZEOF_INT__": 4, "__WORDSIZE": 64, "__ILP32__": False, "_ILP32": False,
           "__ORDER_LITTLE_ENDIAN__": 1234, "__ORDER_BIG_ENDIAN__": 4321, "__ORDER_PDP_ENDIAN__": 3412,
           "__BYTE_ORDER__": 1234, "__FLOAT_WORD_ORDER__": 1234, "__BIG_ENDIAN__": False, "_BIG_ENDIAN": False,
           "_MSC_VER": False, "_MSC_FULL_VER": False, "_WIN32": False, "_WIN64": False, "WIN32": False,
           "_WINDOWS": False, "__WIN32__": False, "__CYGWIN__": False, "__MINGW32__": False, "__MINGW64__": False,
           "__APPLE__": False, "__MACH__": False, "__FreeBSD__": False, "__NetBSD__": False, "__OpenBSD__": False,
           "__DragonFly__": False, "__sun": False, "__ANDROID__": False, "__BORLANDC__": False,
           "__WATCOMC__": False, "__DMC__": False, "__TINYC__": False, "__SUNPRO_C": False, "__IBMC__": False,
           "__xlC__": False, "__HAIKU__": False, "_AIX": False, "__hpux": False, "__OS2__": False}

# ARM's intrinsic headers: only the aarch64 compiler has them (the x86 ones: harness.scan.intrinsics).
ARM_HEADERS = frozenset({"arm_neon.h", "arm_acle.h", "arm_sve.h", "arm_fp16.h", "arm_bf16.h", "arm_sme.h",
                         "arm_mve.h", "arm_cde.h"})


def _table(build: str) -> dict[str, MacroValue]:
    table: dict[str, MacroValue] = dict(_SHARED)
    x86 = build == SOURCE
    for name in _X86_64_DEFINED:
        table[name] = 1 if x86 else False
    for name in _X86_FEATURES:
        table[name] = None if x86 else False
    for name in _X86_COMPILERS:
        table[name] = None if x86 else False
    for name in _X86_UNDEFINED + _ARM_UNDEFINED + _OTHER_ARCH:
        table[name] = False
    for name, value in _AARCH64_DEFINED.items():
        table[name] = False if x86 else value
    for name in _AARCH64_UNKNOWN:
        table[name] = False if x86 else None
    return table


PREDEFINED: dict[str, dict[str, MacroValue]] = {build: _table(build) for build in BUILDS}
ARM_SPECIFIC = frozenset(set(_AARCH64_DEFINED) | set(_AARCH64_UNKNOWN) | set(_ARM_UNDEFINED))


def has_include(header: str, build: str) -> MacroValue:
    """`__has_include(<header>)` on a build: x86 headers exist only on x86, ARM headers only on ARM."""
    from harness.scan.intrinsics import X86_HEADERS

    name = header.strip("<>\" ").rsplit("/", 1)[-1]
    if name in X86_HEADERS:
        return 1 if build == SOURCE else False
    if name in ARM_HEADERS:
        return 1 if build == TARGET else False
    if name.lower() in ("intrin.h", "windows.h"):
        return False  # MSVC's: neither Linux build has it
    return None


# What a build script sees on each build: `uname -m`, the GNU triplet, `getconf LONG_BIT`, meson's
# cpu_family(), CMake's CMAKE_SYSTEM_PROCESSOR, `$(CC) -dumpmachine`.
BUILD_FACTS: dict[str, dict[str, str]] = {
    TARGET: {"cpu": "aarch64", "triplet": "aarch64-unknown-linux-gnu", "long_bit": "64",
             "dumpmachine": "aarch64-linux-gnu", "system": "Linux"},
    SOURCE: {"cpu": "x86_64", "triplet": "x86_64-pc-linux-gnu", "long_bit": "64",
             "dumpmachine": "x86_64-linux-gnu", "system": "Linux"},
}
