"""How the C rules judge a line: by which build compiles it (x86_64, aarch64) and by evidence of x86.

Each case is a pattern seen in real multi-architecture trees (libjpeg-turbo, zstd, xgboost,
cpufrequtils), cut down to a few lines.
"""

from __future__ import annotations

from pathlib import Path

import pytest
from scan_trees import hits, scan_files  # tests/support/scan_trees.py

from harness.scan.cexpr import evaluate, parse
from harness.scan.intrinsics import X86_HEADERS, X86_INTRINSICS, is_x86_intrinsic
from harness.scan.platforms import PREDEFINED, has_include

# -- the #if evaluator -------------------------------------------------------------------------------

def value(condition: str, build: str):
    return evaluate(parse(condition), lambda n: PREDEFINED[build].get(n), lambda h: has_include(h, build))


@pytest.mark.parametrize("condition,on_arm,on_x86", [
    ("defined(__x86_64__)", 0, 1),
    ("!defined(__x86_64__)", 1, 0),
    ("defined(__aarch64__) || defined(_M_ARM64)", 1, 0),
    ("defined(__x86_64__) && defined(__ILP32__)", 0, 0),  # x32: neither build
    ("defined(_MSC_VER) && defined(_M_X64)", 0, 0),  # MSVC: neither build
    ("defined(__mips__) || defined(__powerpc__)", 0, 0),
    ("defined(__SSE4_1__)", 0, None),  # set by -msse4.1: unknown on x86_64, never on aarch64
    ("defined(__GNUC__) && __GNUC__ >= 4", None, None),  # GCC or Clang: version unknown
    ("HAVE_CONFIG_H", None, None),
    ("SIZEOF_SIZE_T == 8 || (defined(__x86_64__) && defined(__ILP32__))", None, None),
    ("__has_include(<arm_neon.h>)", 1, 0),
    ("__has_include(<immintrin.h>)", 0, 1),
    ("__SIZEOF_POINTER__ == 8 && !(0x10 < 3)", 1, 1),
    ("defined(X) ? 1 : 1", 1, 1),
    ("broken && (", None, None),  # does not parse: unknown, never an error
])
def test_conditions_per_build(condition, on_arm, on_x86):
    assert value(condition, "aarch64") == on_arm and value(condition, "x86_64") == on_x86


def test_intrinsic_table_comes_from_the_compiler():
    text = (Path(__file__).resolve().parents[2] / "harness/scan/data/x86_intrinsics.txt").read_text()
    assert text.startswith("# x86 intrinsic names defined by gcc") and "/usr/lib/gcc/x86_64-linux-gnu/12/include" in text
    assert len(X86_INTRINSICS) > 5000 and {"immintrin.h", "emmintrin.h", "cpuid.h"} <= X86_HEADERS
    assert is_x86_intrinsic("_mm_add_ps") and is_x86_intrinsic("__rdtsc") and is_x86_intrinsic("_bzhi_u64")
    assert not is_x86_intrinsic("_mm_load_si32")  # Loongson MMI's own name: Intel has none
    assert not is_x86_intrinsic("__crc32b")  # also ARM ACLE's: no evidence of x86 alone


# -- which build compiles the line ----------------------------------------------------------------------

def test_x32_abi_branch_whose_else_is_right_for_aarch64_is_no_finding(tmp_path):
    r = scan_files(tmp_path, {"h.c": "#if defined(__x86_64__) && defined(__ILP32__)\ntypedef unsigned long long bb;\n"
                                      "#else\ntypedef unsigned long bb;\n#endif\n"
                                      "#if SIZEOF_SIZE_T == 8 || defined(_WIN64) || \\\n    (defined(__x86_64__) && "
                                      "defined(__ILP32__))\n#define BITS 64\n#endif\n"})
    assert hits(r) == []


def test_msvc_and_other_arch_branches_are_not_porting_questions(tmp_path):
    r = scan_files(tmp_path, {"b.c": "#if defined(_MSC_VER)\n#include <intrin.h>\nstatic int f(unsigned v) { unsigned long r; "
                                      "_BitScanForward(&r, v); return (int)__popcnt(v) + _tzcnt_u32(v); }\n"
                                      "#elif defined(__mips__)\nint g(void) { return _mm_cvtsi64_si32(x); }\n"
                                      "#else\nstatic int f(unsigned v) { return __builtin_ctz(v); }\n#endif\n"})
    assert hits(r) == []


def test_x86_branch_without_arm_is_one_warning_chain_and_the_else_branch_is_the_blocker(tmp_path):
    r = scan_files(tmp_path, {"d.c": "void c(int *r){\n#if defined(__x86_64__)\n  __asm__ volatile(\"cpuid\" : "
                                      "\"=a\"(r[0]));\n#else\n  __asm__ volatile(\"xchgl %%ebx, %1; cpuid\" : "
                                      "\"=a\"(r[0]));\n#endif\n}\n"})
    assert hits(r) == [("x86-inline-asm", "blocker", "d.c", 5), ("arch-macro-no-arm", "warning", "d.c", 2),
                       ("x86-inline-asm", "warning", "d.c", 3)]


def test_a_file_gets_a_warning_or_an_already_ported_note_never_both(tmp_path):
    both = ("#if defined(__x86_64__)\nint a = 1;\n#elif defined(__aarch64__)\nint a = 2;\n#endif\n"
            "#if defined(__x86_64__)\nint b = 1;\n#else\nint b = 0;\n#endif\n")
    r = scan_files(tmp_path, {"both.c": both,
                              "ported.c": "#if defined(__SSE2__)\nint a = 1;\n#elif defined(__ARM_NEON)\nint a = 2;\n#endif\n"})
    assert hits(r) == [("arch-macro-no-arm", "warning", "both.c", 6), ("already-ported", "info", "ported.c", 3)]
    assert "ARM branch at line 3" in r.findings[0].suggestion or "line 3" in r.sorted_findings()[0].suggestion


def test_never_one_line_twice(tmp_path):
    r = scan_files(tmp_path, {"t.c": "void p(void){ __asm__ volatile(\"pause\"); _mm_pause(); }\n",
                              "Makefile": "CFLAGS += -mavx2 -Dx86_64_ASM\n"})
    lines = [(f.file, f.line) for f in r.findings]
    assert sorted(lines) == [("Makefile", 1), ("t.c", 1)]
    assert {f.severity for f in r.findings} == {"blocker"}


def test_project_macro_defined_only_under_x86_tests_makes_its_branch_x86_only(tmp_path):
    r = scan_files(tmp_path, {"config.h": "#if defined(__x86_64__) && defined(__GNUC__)\n#  define HAVE_X86_ASM 1\n"
                                           "#else\n#  define HAVE_X86_ASM 0\n#endif\n",
                              "k.c": "#include \"config.h\"\n#if HAVE_X86_ASM\nstatic int t(void){ unsigned lo; "
                                     "__asm__(\"rdtsc\" : \"=a\"(lo)); return lo; }\n#endif\n"})
    assert hits(r, severity="blocker") == []
    assert ("x86-inline-asm", "warning", "k.c", 3) in hits(r)


def test_a_define_in_one_c_file_says_nothing_about_other_files(tmp_path):
    # lz4's tests/freestanding.c defines LZ4_FREESTANDING in its x86-64 branch; lz4.h must not read that
    r = scan_files(tmp_path, {"test.c": "#if defined(__x86_64__)\n#define OPT_FREESTANDING 1\n#endif\n",
                              "lib.h": "#if defined(OPT_FREESTANDING)\nint no_alloc;\n#endif\n"})
    assert [h for h in hits(r) if h[2] == "lib.h"] == []  # test.c's own x86 branch is test.c's warning


def test_macro_defined_only_under_arm_tests_counts_as_an_arm_branch(tmp_path):
    # libjpeg-turbo jchuff.c: USE_CLZ_INTRINSIC is defined only for ARM; its #else is the x86/generic path
    r = scan_files(tmp_path, {"j.c": "#if defined(__GNUC__) && defined(__aarch64__)\n#define USE_CLZ 1\n#endif\n"
                                     "#ifdef USE_CLZ\n#define NBITS(x) (32 - __builtin_clz(x))\n#else\n"
                                     "#define NBITS(x) table[x]\n#endif\n"})
    assert [h[:3] for h in hits(r)] == [("already-ported", "info", "j.c")]


# -- evidence of x86 -------------------------------------------------------------------------------------

LOONGSON_HEADER = ("typedef long long __m64;\n"
                   "static __inline __m64 _mm_set1_pi32(int i) { __m64 r; __asm__(\"dmtc1 %1, %0\" : \"=f\"(r) : \"r\"(i));"
                   " return r; }\n"
                   "static __inline __m64 _mm_add_pi16(__m64 a, __m64 b) { return a + b; }\n")


def test_loongson_mmi_in_a_mips_folder_is_not_x86(tmp_path):
    r = scan_files(tmp_path, {"simd/mips64/loongson-mmintrin.h": LOONGSON_HEADER,
                              "simd/mips64/jcsample-mmi.c": "#include \"loongson-mmintrin.h\"\n"
                                                            "void f(void){ __m64 a = _mm_set1_pi32(1); a = _mm_add_pi16(a, a); }\n"})
    assert hits(r) == []


def test_loongson_header_in_scope_outside_a_mips_folder_is_not_x86(tmp_path):
    r = scan_files(tmp_path, {"lib/mmi-compat.h": "#include <loongson-mmiintrin.h>\n" + LOONGSON_HEADER,
                              "lib/kernel.c": "#include \"mmi-compat.h\"\nvoid f(void){ __m64 a = _mm_set1_pi32(1); }\n"})
    assert hits(r) == []


def test_look_alike_definitions_are_not_uses_and_unknown_names_are_not_intrinsics(tmp_path):
    r = scan_files(tmp_path, {"compat.h": LOONGSON_HEADER.replace("dmtc1 %1, %0", "")  # no asm left
                              + "static __inline __m64 _mm_load_si32(const void *p) { return *(const int *)p; }\n",
                              "use.c": "int g(const void *p) { return (int)_mm_load_si32(p); }\n"})
    assert hits(r) == []


def test_a_real_intel_intrinsic_with_its_header_is_a_blocker(tmp_path):
    r = scan_files(tmp_path, {"sse.c": "#include <emmintrin.h>\nint f(void){ return _mm_cvtsi128_si32(_mm_setzero_si128()); }\n"})
    assert hits(r) == [("x86-intrinsic-header", "blocker", "sse.c", 1), ("x86-intrinsic", "blocker", "sse.c", 2)]


def test_a_projects_own_function_named_like_an_intrinsic_is_not_one(tmp_path):
    # cpufrequtils utils/cpuid.h defines its own static inline __cpuid()
    r = scan_files(tmp_path, {"cpuid.h": "static inline void __cpuid(unsigned *a, unsigned *b)\n{\n  *a = *b;\n}\n",
                              "use.c": "#include \"cpuid.h\"\nvoid f(unsigned *a, unsigned *b) { __cpuid(a, b); }\n"})
    assert hits(r) == []


def test_x86_asm_in_a_static_inline_helper_only_x86_code_calls_is_a_warning(tmp_path):
    helper = ("static inline unsigned cpuid_eax(unsigned op)\n{\n  unsigned a;\n"
              "  asm volatile(\"cpuid\" : \"=a\"(a) : \"0\"(op) : \"ebx\", \"ecx\", \"edx\");\n  return a;\n}\n")
    r = scan_files(tmp_path, {"cpuid.h": helper,
                              "aperf.c": "#include \"cpuid.h\"\nstatic int has_aperf(void)\n{\n"
                                         "#if defined(__i386__) || defined(__x86_64__)\n  return cpuid_eax(6) & 1;\n"
                                         "#else\n  return 0;\n#endif\n}\nint main(void) { return has_aperf(); }\n"})
    assert ("x86-inline-asm", "warning", "cpuid.h", 4) in hits(r)
    assert hits(r, severity="blocker") == []
    called = scan_files(tmp_path / "b", {"cpuid.h": helper, "use.c": "#include \"cpuid.h\"\n"
                                                                    "int main(void) { return (int)cpuid_eax(0); }\n"})
    assert hits(called, severity="blocker") == [("x86-inline-asm", "blocker", "cpuid.h", 4)]
