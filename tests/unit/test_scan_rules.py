"""Every scan rule on small snippets: one positive and one negative case each (plus the ported cases)."""

from __future__ import annotations

import io
import shutil
import struct
import zipfile
from pathlib import Path

import pytest
from scan_trees import hits, scan_files  # tests/support/scan_trees.py

from harness.core.errors import InputError
from harness.scan import scan_path
from harness.scan.rules import RULES

# -- C/C++ ----------------------------------------------------------------------------------

def test_intrinsic_unguarded_is_blocker(tmp_path):
    r = scan_files(tmp_path, {"a.c": "#include <stdint.h>\nint f(void){ __m128i x = _mm_setzero_si128();\n"
                                      "return __builtin_ia32_crc32si(0, 1) + (int)__rdtsc(); }\n"})
    assert hits(r, "x86-intrinsic") == [("x86-intrinsic", "blocker", "a.c", 2), ("x86-intrinsic", "blocker", "a.c", 3)]


def test_intrinsic_negative_portable_builtins_comments_and_strings(tmp_path):
    r = scan_files(tmp_path, {"a.c": "int f(unsigned x){ return __builtin_popcount(x); }\n"
                                      "/* _mm_add_ps(a, b) in a comment */\n"
                                      "const char *s = \"_mm_add_ps(a, b)\"; // _mm_mul_ps(x)\n"})
    assert r.findings == []


def test_intrinsic_in_guarded_x86_branch_is_warning(tmp_path):
    r = scan_files(tmp_path, {"a.c": "#ifdef __SSE2__\nint f(void){ return _mm_cvtsi128_si32(_mm_setzero_si128()); }\n"
                                      "#else\nint f(void){ return 0; }\n#endif\n"})
    assert hits(r, "x86-intrinsic") == [("x86-intrinsic", "warning", "a.c", 2)]
    assert hits(r, "arch-macro-no-arm") == [("arch-macro-no-arm", "warning", "a.c", 1)]


def test_target_attribute_is_x86_intrinsic_use(tmp_path):
    r = scan_files(tmp_path, {"a.c": "__attribute__((target(\"avx2\"))) int f(void) { return 1; }\n"})
    assert hits(r, "x86-intrinsic") == [("x86-intrinsic", "blocker", "a.c", 1)]


@pytest.mark.parametrize("header", ["immintrin.h", "xmmintrin.h", "emmintrin.h", "x86intrin.h", "cpuid.h",
                                    "nmmintrin.h", "avx2intrin.h"])
def test_x86_header_unguarded_is_blocker(tmp_path, header):
    r = scan_files(tmp_path, {"a.c": f"#include <{header}>\n"})
    assert hits(r, "x86-intrinsic-header") == [("x86-intrinsic-header", "blocker", "a.c", 1)]


def test_x86_header_negative(tmp_path):
    r = scan_files(tmp_path, {"a.c": "#include <stdio.h>\n#include \"cpuid.h\"\n#include \"simd/x86/sse2.h\"\n"})
    assert hits(r, "x86-intrinsic-header") == []


def test_gcc_and_msvc_inline_asm(tmp_path):
    r = scan_files(tmp_path, {"a.c": "unsigned long long t(void){ unsigned lo, hi;\n"
                                      "  __asm__ __volatile__(\"rdtsc\" : \"=a\"(lo), \"=d\"(hi));\n"
                                      "  return ((unsigned long long)hi << 32) | lo; }\n"
                                      "void m(void){ __asm { mov eax, 1 } }\n"
                                      "void s(void){ asm volatile(\"pause\"); }\n"})
    assert hits(r, "x86-inline-asm") == [("x86-inline-asm", "blocker", "a.c", 2), ("x86-inline-asm", "blocker", "a.c", 4),
                                         ("x86-inline-asm", "blocker", "a.c", 5)]


def test_inline_asm_negative_barrier_and_arm_asm(tmp_path):
    r = scan_files(tmp_path, {"a.c": "void b(void){ __asm__ __volatile__(\"\" ::: \"memory\"); }\n"
                                      "void d(void){ asm volatile(\"dmb ish\" ::: \"memory\"); }\n"
                                      "unsigned long c(void){ unsigned long v; asm volatile(\"mrs %0, cntvct_el0\" : \"=r\"(v)); return v; }\n"})
    assert hits(r, "x86-inline-asm") == []


def test_arch_macro_without_arm_branch_is_warning_and_with_arm_is_info(tmp_path):
    r = scan_files(tmp_path, {"x.c": "#if defined(__x86_64__)\nint a = 1;\n#else\nint a = 0;\n#endif\n",
                              "y.c": "#if defined(__x86_64__)\nint a = 1;\n#elif defined(__aarch64__)\nint a = 2;\n#endif\n"})
    assert hits(r, "arch-macro-no-arm") == [("arch-macro-no-arm", "warning", "x.c", 1)]
    assert hits(r, "already-ported") == [("already-ported", "info", "y.c", 3)]  # one verdict per file


def test_error_in_non_x86_branch_is_blocker(tmp_path):
    r = scan_files(tmp_path, {"a.c": "#if defined(__x86_64__) || defined(_M_X64)\nint a;\n#else\n#error \"x86 only\"\n#endif\n",
                              "b.h": "#if !defined(_WIN32) && !defined(__SSSE3__)\n#error SSSE3 must be enabled\n#endif\n"})
    assert hits(r, "error-non-x86") == [("error-non-x86", "blocker", "a.c", 4), ("error-non-x86", "blocker", "b.h", 2)]


def test_error_negative_after_arm_branch_or_compiler_test(tmp_path):
    r = scan_files(tmp_path, {"a.c": "#if defined(__x86_64__)\nint a;\n#elif defined(__aarch64__)\nint a;\n#else\n"
                                      "#error unsupported\n#endif\n",
                              "b.c": "#if defined(_MSC_VER) && defined(_M_IX86)\nint b;\n#else\n#error not msvc\n#endif\n"})
    assert hits(r, "error-non-x86") == []


def test_inline_asm_in_the_branch_aarch64_compiles_is_blocker(tmp_path):
    r = scan_files(tmp_path, {"a.c": "void c(int *r){\n#if defined(__x86_64__)\n  __asm__ volatile(\"cpuid\" : \"=a\"(r[0]));\n"
                                      "#else\n  __asm__ volatile(\"xchgl %%ebx, %1; cpuid\" : \"=a\"(r[0]));\n#endif\n}\n"})
    assert hits(r, "x86-inline-asm") == [("x86-inline-asm", "blocker", "a.c", 5), ("x86-inline-asm", "warning", "a.c", 3)]


def test_already_ported_neon_file_is_info_not_blocker(tmp_path):
    # x86 code under a configuration macro (unknown per build) in a file with its NEON path: covered
    r = scan_files(tmp_path, {"k.c": "#if defined(__ARM_NEON)\n#include <arm_neon.h>\n#endif\n"
                                      "#if USE_SIMD_X86\n#include <immintrin.h>\n"
                                      "void g(float *p){ _mm_storeu_ps(p, _mm_loadu_ps(p)); }\n#endif\n"
                                      "void f(float *p){ float32x4_t v = vld1q_f32(p); vst1q_f32(p, vaddq_f32(v, v)); }\n"})
    assert hits(r) == [("already-ported", "info", "k.c", 1)]  # one file-level note, x86 lines covered by it
    assert "2 x86-specific line(s)" in r.findings[0].suggestion


def test_unguarded_x86_code_in_a_neon_file_is_still_a_blocker(tmp_path):
    # an aarch64 build compiles the #include <immintrin.h>: the NEON code elsewhere does not save it
    r = scan_files(tmp_path, {"k.c": "#if defined(__ARM_NEON)\n#include <arm_neon.h>\n#endif\n"
                                      "#include <immintrin.h>\nvoid f(float *p){ float32x4_t v = vld1q_f32(p); }\n"})
    assert hits(r) == [("x86-intrinsic-header", "blocker", "k.c", 4)]


def test_already_ported_by_arm_sibling_file(tmp_path):
    r = scan_files(tmp_path, {"crc_sse.c": "#include <nmmintrin.h>\nunsigned c(unsigned a){ return _mm_crc32_u8(a, 1); }\n",
                              "crc_neon.c": "#include <arm_acle.h>\nunsigned c(unsigned a){ return __crc32b(a, 1); }\n"})
    assert hits(r, severity="blocker") == []
    assert [h for h in hits(r) if h[2] == "crc_sse.c"] == [("already-ported", "info", "crc_sse.c", 1)]


def test_already_ported_by_simde_layer(tmp_path):
    r = scan_files(tmp_path, {"k.c": "#define SIMDE_ENABLE_NATIVE_ALIASES\n#include \"simde/x86/sse4.1.h\"\n"
                                      "int f(void){ return _mm_extract_epi32(_mm_setzero_si128(), 0); }\n"})
    assert hits(r) == [("already-ported", "info", "k.c", 2)]


def test_raw_x86_opcodes_and_register_bound_variables_are_inline_asm(tmp_path):
    r = scan_files(tmp_path, {"a.c": "unsigned long long t(void){ unsigned long long x;\n"
                                      "  __asm__ volatile(\".byte 0x0f, 0x31\" : \"=A\"(x)); return x; }\n"
                                      "long s(long n){ register long rax __asm__(\"rax\") = n; return rax; }\n"
                                      "long u(long n){ register long x0 __asm__(\"x0\") = n; return x0; }\n"
                                      "void v(void){ __asm__ volatile(\".byte 0xd5, 0x03, 0x20, 0x3f\"); }\n"})
    assert hits(r, "x86-inline-asm") == [("x86-inline-asm", "blocker", "a.c", 2), ("x86-inline-asm", "blocker", "a.c", 3)]


def test_msr_device_access(tmp_path):
    r = scan_files(tmp_path, {"m.c": "int rd(int cpu){ char f[64]; sprintf(f, \"/dev/cpu/%d/msr\", cpu);\n"
                                      "  return open(f, 0); }\n"
                                      "void help(void){ printf(\"needs /dev/cpu/*/msr\\n\"); }\n"
                                      "void load(void){ system(\"modprobe msr\"); }\n",
                              "tools/read-turbo": "#!/bin/sh\n# rdmsr 0x1a0 reads the turbo bit\nrdmsr -p0 0x1a0\n"
                                                  "echo \"run rdmsr 0x1a0 as root\"\n",
                              "tools/clk.rb": "status = `rdmsr  0x19a --bitfield 4:4`\nprint_command('rdmsr 0x19a')\n"})
    assert hits(r, "x86-msr-access") == [("x86-msr-access", "blocker", "m.c", 1), ("x86-msr-access", "blocker", "m.c", 4),
                                         ("x86-msr-access", "blocker", "tools/clk.rb", 1),
                                         ("x86-msr-access", "blocker", "tools/read-turbo", 3)]


def test_build_defines_an_x86_macro_on_aarch64(tmp_path):
    r = scan_files(tmp_path, {"Makefile": "CFLAGS += -DARCH_X86_64 -DNDEBUG\n",
                              "ok/Makefile": "ARCH := $(shell uname -m)\nifeq ($(ARCH),x86_64)\nCFLAGS += -DARCH_X86_64\n"
                                             "endif\n"})
    assert hits(r, "build-x86-define") == [("build-x86-define", "blocker", "Makefile", 1)]


def test_math_library_header(tmp_path):
    r = scan_files(tmp_path, {"a.c": "#include <mkl.h>\n", "b.c": "#include <cblas.h>\n"})
    assert hits(r, "x86-only-library") == [("x86-only-library", "blocker", "a.c", 1)]


# -- assembly ---------------------------------------------------------------------------------

def test_x86_assembly_file_is_blocker(tmp_path):
    r = scan_files(tmp_path, {"memcpy.S": ".text\n.globl fast_copy\nfast_copy:\n    movq %rdi, %rax\n    ret\n",
                              "sum.asm": "; nasm\nbits 64\nsection .text\nglobal sum\nsum: mov rax, rdi\nret\n"})
    assert hits(r, "x86-asm-file") == [("x86-asm-file", "blocker", "memcpy.S", 4), ("x86-asm-file", "blocker", "sum.asm", 2)]


def test_assembly_negative_arm_file_and_sibling(tmp_path):
    r = scan_files(tmp_path, {"a/copy.S": ".text\ncopy:\n    ldp x2, x3, [x1]\n    stp x2, x3, [x0]\n    ret\n",
                              "b/sum_x86.S": "sum:\n    movq %rdi, %rax\n    ret\n",
                              "b/sum_arm64.S": "sum:\n    mov x0, x1\n    ret\n"})
    assert hits(r, "x86-asm-file") == []
    assert ("already-ported", "info", "b/sum_x86.S", 2) in hits(r)


# -- build files --------------------------------------------------------------------------------

def test_build_flags_and_march(tmp_path):
    r = scan_files(tmp_path, {"Makefile": "CFLAGS += -O2 -msse4.2 -mavx2 # fast\nfoo.o: foo.c\n\t$(CC) -march=haswell -c $<\n"
                                          "# -mavx512f only in a comment\n",
                              "CMakeLists.txt": "set(CMAKE_C_FLAGS \"${CMAKE_C_FLAGS} -mtune=skylake\")\n"})
    assert hits(r, "build-x86-flag") == [("build-x86-flag", "blocker", "Makefile", 1)]
    assert hits(r, "build-march-x86") == [("build-march-x86", "blocker", "CMakeLists.txt", 1),
                                          ("build-march-x86", "blocker", "Makefile", 3)]


def test_build_flags_negative_and_arm_aware_file(tmp_path):
    r = scan_files(tmp_path, {"Makefile": "CFLAGS += -O2 -march=armv8.2-a -mcpu=tsv110 -march=native -mno-outline-atomics\n",
                              "sub/Makefile": "ifeq ($(ARCH),aarch64)\nCFLAGS += -march=armv8-a\nelse\nCFLAGS += -msse4.1\nendif\n"})
    assert hits(r, "build-march-x86") == []
    assert hits(r, "build-x86-flag") == [("build-x86-flag", "warning", "sub/Makefile", 4)]


def test_cmake_processor_test(tmp_path):
    r = scan_files(tmp_path, {"CMakeLists.txt": "if(CMAKE_SYSTEM_PROCESSOR MATCHES \"x86_64|AMD64\")\n  add_definitions(-DFAST)\nendif()\n",
                              "ok/CMakeLists.txt": "if(CMAKE_SYSTEM_PROCESSOR MATCHES \"x86_64\")\nelseif(CMAKE_SYSTEM_PROCESSOR MATCHES \"aarch64\")\nendif()\n"})
    assert hits(r, "build-cmake-processor") == [("build-cmake-processor", "warning", "CMakeLists.txt", 1)]


def test_config_guess_too_old(tmp_path):
    r = scan_files(tmp_path, {"old/config.guess": "#! /bin/sh\ntimestamp='2009-04-27'\ncase x86_64 in esac\n",
                              "new/config.sub": "#! /bin/sh\ntimestamp='2021-01-01'\n\taarch64-* | aarch64_be-*)\n"})
    assert hits(r, "build-config-guess") == [("build-config-guess", "blocker", "old/config.guess", 2)]


def test_x86_only_library_in_build(tmp_path):
    r = scan_files(tmp_path, {"Makefile": "LIBS = -lmkl_rt -lpthread\n", "CMakeLists.txt": "find_package(BLAS)\n"
                                                                            "target_link_libraries(x openblas)\n"})
    assert hits(r, "x86-only-library") == [("x86-only-library", "blocker", "Makefile", 1)]


# -- other languages ------------------------------------------------------------------------------

def test_python_pins(tmp_path):
    r = scan_files(tmp_path, {"requirements.txt": "numpy==1.18.5\npandas>=1.5\n# grpcio==1.20.0\ngrpcio<1.30\n"
                                                  "requests==2.0\nscipy==1.11.0\n"})
    assert hits(r, "python-pin-pre-arm64") == [("python-pin-pre-arm64", "warning", "requirements.txt", 1),
                                               ("python-pin-pre-arm64", "warning", "requirements.txt", 4)]


def test_x86_wheel_and_aarch64_sibling(tmp_path):
    r = scan_files(tmp_path, {"w/foo-1.0-cp311-cp311-manylinux_2_17_x86_64.whl": _zip({"foo/__init__.py": b""}),
                              "v/bar-2.0-cp311-cp311-manylinux_2_17_x86_64.whl": _zip({"bar/__init__.py": b""}),
                              "v/bar-2.0-cp311-cp311-manylinux_2_17_aarch64.whl": _zip({"bar/__init__.py": b""}),
                              "p/pure-1.0-py3-none-any.whl": _zip({"pure.py": b""})})
    assert hits(r, "python-wheel-x86") == [("python-wheel-x86", "blocker", "w/foo-1.0-cp311-cp311-manylinux_2_17_x86_64.whl", 0)]
    assert ("already-ported", "info", "v/bar-2.0-cp311-cp311-manylinux_2_17_x86_64.whl", 0) in hits(r)


def elf_header(machine: int) -> bytes:
    """A 64-byte little-endian ELF64 header (enough for the machine field the jar rule reads)."""
    return b"\x7fELF\x02\x01\x01" + b"\x00" * 9 + struct.pack("<HHI", 3, machine, 1) + b"\x00" * 40


def _zip(members: dict[str, bytes]) -> bytes:
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w") as z:
        for name, data in members.items():
            z.writestr(name, data)
    return out.getvalue()


def test_java_archive_native_libraries(tmp_path):
    r = scan_files(tmp_path, {"x86.jar": _zip({"META-INF/MANIFEST.MF": b"", "native/linux-x86_64/libfoo.so": elf_header(62)}),
                              "both.jar": _zip({"linux-x86_64/libfoo.so": elf_header(62), "linux-aarch64/libfoo.so": elf_header(183)}),
                              "pure.jar": _zip({"a/B.class": b"\xca\xfe\xba\xbe"})})
    assert hits(r, "java-native-no-arm") == [("java-native-no-arm", "blocker", "x86.jar", 0)]
    assert ("already-ported", "info", "both.jar", 0) in hits(r)
    assert not [h for h in hits(r) if h[2] == "pure.jar"]


def test_go_assembly(tmp_path):
    r = scan_files(tmp_path, {"a/sum_amd64.s": "TEXT ·sum(SB),4,$0\n", "a/sum.go": "package a\n",
                              "b/sum_amd64.s": "TEXT ·sum(SB),4,$0\n", "b/sum.go": "package b\n",
                              "b/sum_generic.go": "//go:build !amd64\npackage b\n",
                              "c/sum_amd64.s": "TEXT ·sum(SB),4,$0\n", "c/sum_arm64.s": "TEXT ·sum(SB),4,$0\n",
                              "c/sum.go": "package c\n"})
    assert hits(r, "go-asm-no-arm") == [("go-asm-no-arm", "blocker", "a/sum_amd64.s", 1),
                                        ("go-asm-no-arm", "warning", "b/sum_amd64.s", 1)]
    assert ("already-ported", "info", "c/sum_amd64.s", 1) in hits(r)


# -- binaries --------------------------------------------------------------------------------------

HOST_ELF = Path("/usr/bin/true")


@pytest.mark.skipif(not HOST_ELF.exists(), reason="needs the controller's /usr/bin/true")
def test_elf_arch_and_glibc_floor(tmp_path):
    shutil.copy(HOST_ELF, tmp_path / "true")
    r = scan_path(tmp_path, target_arch="aarch64", target_os="centos-7")
    assert len(r.binaries) == 1 and r.binaries[0].machine == "x86_64"
    floor = r.binaries[0].glibc_floor
    assert floor.startswith("2.") and floor > "2.17"
    assert hits(r) == [("elf-arch-mismatch", "blocker", "true", 0), ("elf-glibc-too-new", "blocker", "true", 0)]
    same = scan_path(tmp_path, target_arch="x86_64", target_os="openeuler-24.03")
    assert hits(same) == [] and same.binaries[0].arch_ok and same.binaries[0].glibc_ok


def test_damaged_package_is_reported_not_fatal(tmp_path):
    r = scan_files(tmp_path, {"broken.deb": b"!<arch>\nnot really", "ok.c": "int x;\n"})
    assert hits(r, "archive-unreadable") == [("archive-unreadable", "warning", "broken.deb", 0)]


def test_every_rule_is_exercised_by_this_file():
    text = Path(__file__).read_text()
    missing = [rule_id for rule_id in RULES if f'"{rule_id}"' not in text]
    assert missing == []


def test_bad_input(tmp_path):
    with pytest.raises(InputError, match="no such file"):
        scan_path(tmp_path / "missing")
    with pytest.raises(InputError, match="--target-os 'solaris-11'"):
        scan_path(tmp_path, target_os="solaris-11")
    with pytest.raises(InputError, match="--target-arch"):
        scan_path(tmp_path, target_arch="sparc")
