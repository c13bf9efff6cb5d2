"""The build files' own architecture dispatch, read per build: CMake, meson, autotools, Makefiles.

A source the build selects only for x86_64, beside an ARM branch, is already ported; an x86 macro
the build derives from a test aarch64 also passes (`getconf LONG_BIT`) is a blocker.
"""

from __future__ import annotations

from scan_trees import hits, scan_files  # tests/support/scan_trees.py

NASM = "%include \"x.inc\"\nbits 64\nsection .text\nglobal f\nf:\n    pinsrw X0, word [rdi + rax * 2], 0\n    ret\n"
GAS_X86 = ".text\n.globl f\nf:\n    movq %rdi, %rax\n    ret\n"






def test_cmake_processor_dispatch_with_an_arm_branch(tmp_path):
    # libjpeg-turbo's simd/CMakeLists.txt, cut down: CPU_TYPE derived from CMAKE_SYSTEM_PROCESSOR
    cmake = ("string(TOLOWER ${CMAKE_SYSTEM_PROCESSOR} CPU_LC)\nmath(EXPR BITS \"${CMAKE_SIZEOF_VOID_P} * 8\")\n"
             "if(CPU_LC MATCHES \"x86_64\" OR CPU_LC MATCHES \"i[0-9]86\")\n  if(BITS EQUAL 64)\n"
             "    set(CPU_TYPE x86_64)\n  else()\n    set(CPU_TYPE i386)\n  endif()\n"
             "elseif(CPU_LC STREQUAL \"aarch64\")\n  set(CPU_TYPE arm64)\nendif()\n"
             "if(CPU_TYPE STREQUAL \"x86_64\")\n  set(SIMD_SOURCES x86_64/jfdct-sse2.asm\n    x86_64/jidct-avx2.asm)\n"
             "  add_library(simd OBJECT ${SIMD_SOURCES} ${CPU_TYPE}/jsimd.c)\n"
             "elseif(CPU_TYPE STREQUAL \"arm64\")\n  add_library(simd OBJECT neon/jfdct-neon.c)\nendif()\n")
    r = scan_files(tmp_path, {"CMakeLists.txt": cmake, "x86_64/jfdct-sse2.asm": NASM, "x86_64/jidct-avx2.asm": NASM,
                              "x86_64/jsimd.c": "#include <immintrin.h>\nint f(void){ return _mm_popcnt_u32(3); }\n",
                              "neon/jfdct-neon.c": "#include <arm_neon.h>\n"})
    assert hits(r, severity="blocker") == []
    infos = {f.file: f.suggestion for f in r.findings if f.severity == "info"}
    assert {"x86_64/jfdct-sse2.asm", "x86_64/jidct-avx2.asm", "x86_64/jsimd.c"} <= set(infos)
    assert "CMakeLists.txt:" in infos["x86_64/jfdct-sse2.asm"]  # the ARM alternative is named


def test_x86_assembly_selected_for_x86_only_without_arm_branch_is_a_warning(tmp_path):
    r = scan_files(tmp_path, {"meson.build": "srcs = files('main.c')\nif host_machine.cpu_family() == 'x86_64'\n"
                                             "  srcs += files('asm/crc_fold.S')\nendif\n",
                              "main.c": "int main(void) { return 0; }\n", "asm/crc_fold.S": GAS_X86})
    assert hits(r) == [("x86-asm-file", "warning", "asm/crc_fold.S", 4)]


def test_autotools_case_host_cpu_and_am_conditional(tmp_path):
    configure = ("AC_INIT([t], [1])\ncase \"$host_cpu\" in\n  x86_64*|amd64*)\n    simd_arch=x86_64\n    ;;\n"
                 "  aarch64*)\n    simd_arch=aarch64\n    ;;\nesac\n"
                 "AM_CONDITIONAL([SIMD_X86_64], [test \"x$simd_arch\" = \"xx86_64\"])\n")
    makefile_am = ("lib_LTLIBRARIES = libt.la\nlibt_la_SOURCES = t.c\nif SIMD_X86_64\n"
                   "libt_la_SOURCES += x86/sum.asm\nendif\n")
    r = scan_files(tmp_path, {"configure.ac": configure, "Makefile.am": makefile_am, "t.c": "int t;\n",
                              "x86/sum.asm": NASM})
    assert hits(r) == [("x86-asm-file", "warning", "x86/sum.asm", 1)]


def test_makefile_uname_dispatch(tmp_path):
    makefile = ("ARCH := $(shell uname -m)\nOBJS = main.o\nifeq ($(ARCH),x86_64)\nOBJS += rdtsc_x86.o\n"
                "else ifeq ($(ARCH),aarch64)\nOBJS += cntvct_arm64.o\nendif\n")
    r = scan_files(tmp_path, {"Makefile": makefile, "main.c": "int main(void) { return 0; }\n",
                              "rdtsc_x86.S": GAS_X86, "cntvct_arm64.S": ".text\nf:\n    mrs x0, cntvct_el0\n    ret\n"})
    assert hits(r, severity="blocker") == [] and ("already-ported", "info", "rdtsc_x86.S", 4) in hits(r)


def test_getconf_long_bit_routes_aarch64_into_x86_asm(tmp_path):
    # i7z's Makefile and i7z.h, cut down
    makefile = ("LBITS := $(shell getconf LONG_BIT)\nifeq ($(LBITS),64)\n   CFLAGS += -Dx64_BIT\nelse\n"
                "   CFLAGS += -Dx86\nendif\nSRC = i7z.c\n")
    header = ("#ifndef x64_BIT\nstatic unsigned long long rdtsc(void) { unsigned long long x;\n"
              "__asm__ volatile (\".byte 0x0f, 0x31\" : \"=A\" (x)); return x; }\n#endif\n"
              "#ifdef x64_BIT\nstatic unsigned long long rdtsc(void) { unsigned hi, lo;\n"
              "__asm__ __volatile__ (\"rdtsc\" : \"=a\" (lo), \"=d\" (hi)); return lo; }\n#endif\n")
    r = scan_files(tmp_path, {"Makefile": makefile, "i7z.h": header,
                              "i7z.c": "#include \"i7z.h\"\nint main(void) { return (int)rdtsc(); }\n"})
    assert hits(r) == [("build-x86-define", "blocker", "Makefile", 3), ("x86-inline-asm", "blocker", "i7z.h", 7)]


def test_a_makefiles_flags_reach_only_the_sources_it_builds(tmp_path):
    # i7z's GUI builds helper code with qmake, without -Dx64_BIT: for i7z.h x64_BIT is then unknown
    makefile = "LBITS := $(shell getconf LONG_BIT)\nifeq ($(LBITS),64)\nCFLAGS += -Dx64_BIT\nendif\nSRC = cli.c\n"
    header = ("#ifndef x64_BIT\nstatic unsigned long long rdtsc(void) { unsigned long long x;\n"
              "__asm__ volatile (\".byte 0x0f, 0x31\" : \"=A\" (x)); return x; }\n#endif\n")
    r = scan_files(tmp_path, {"Makefile": makefile, "t.h": header,
                              "cli.c": "#include \"t.h\"\nint main(void) { return 0; }\n",
                              "gui/gui.cpp": "#include \"../t.h\"\nint g(void) { return (int)rdtsc(); }\n"})
    assert ("x86-inline-asm", "blocker", "t.h", 3) in hits(r)


def test_flags_of_one_target_do_not_reach_other_files(tmp_path):
    makefile = "bench_avx2: CFLAGS += -DHAVE_AVX2_KERNEL\nbench_avx2: bench.c\n\t$(CC) $(CFLAGS) -o $@ $<\n"
    r = scan_files(tmp_path, {"Makefile": makefile, "k.h": "#ifndef HAVE_AVX2_KERNEL\nint generic;\n#endif\n",
                              "bench.c": "#include \"k.h\"\n#ifdef HAVE_AVX2_KERNEL\n#include <immintrin.h>\n#endif\n"})
    assert [h for h in hits(r) if h[2] == "k.h"] == []  # the target's -D does not make k.h's branch dead


def test_cmake_probe_of_an_x86_intrinsic_is_false_on_aarch64(tmp_path):
    # xgboost cmake/FindPrefetchIntrinsics.cmake and src/common/hist_util.cc
    cmake = ("include(CheckCXXSourceCompiles)\ncheck_cxx_source_compiles(\"\n#include <xmmintrin.h>\n"
             "int main() { _mm_prefetch((const char*)0, _MM_HINT_NTA); return 0; }\n\" HAVE_MM_PREFETCH)\n"
             "if (HAVE_MM_PREFETCH)\n  add_definitions(-DHAVE_MM_PREFETCH=1)\nendif()\nadd_library(h hist.cc)\n")
    source = ("#if defined(HAVE_MM_PREFETCH)\n#include <xmmintrin.h>\n#define PF(a) _mm_prefetch((const char*)(a), 0)\n"
              "#else\n#define PF(a) __builtin_prefetch(a)\n#endif\n")
    r = scan_files(tmp_path, {"CMakeLists.txt": cmake, "hist.cc": source})
    assert hits(r, severity="blocker") == []
    assert ("x86-intrinsic-header", "warning", "hist.cc", 2) in hits(r)


def test_cmakedefine_placeholder_follows_the_probe(tmp_path):
    cmake = ("include(CheckIncludeFile)\ncheck_include_file(immintrin.h HAVE_IMMINTRIN_H)\n"
             "configure_file(config.h.in config.h)\nadd_library(k k.c)\n")
    r = scan_files(tmp_path, {"CMakeLists.txt": cmake, "config.h.in": "#cmakedefine HAVE_IMMINTRIN_H 1\n",
                              "k.c": "#include \"config.h\"\n#ifdef HAVE_IMMINTRIN_H\n#include <immintrin.h>\n#endif\n"})
    assert hits(r, severity="blocker") == [] and ("x86-intrinsic-header", "warning", "k.c", 3) in hits(r)


def test_arm_port_beside_an_x86_named_parent_folder(tmp_path):
    # simd/x86_64/... next to simd/arm/...: no build file needed
    r = scan_files(tmp_path, {"simd/x86_64/jccolor-sse2.asm": NASM, "simd/i386/jccolor-mmx.asm": NASM,
                              "simd/arm/jccolor-neon.c": "#include <arm_neon.h>\n"})
    assert hits(r, severity="blocker") == []
    assert {f.file for f in r.findings if f.severity == "info"} >= {"simd/x86_64/jccolor-sse2.asm",
                                                                   "simd/i386/jccolor-mmx.asm"}


def test_nasm_registers_named_like_aarch64_are_x86(tmp_path):
    # `pinsrw X0, word ...`: X0 is a NASM macro for an xmm register, not AArch64's x0
    r = scan_files(tmp_path, {"lib/phuff-sse2.asm": NASM})
    assert hits(r) == [("x86-asm-file", "blocker", "lib/phuff-sse2.asm", 1)]


def test_aarch64_register_pattern_is_case_sensitive(tmp_path):
    r = scan_files(tmp_path, {"a/copy.S": ".text\ncopy:\n    ldp x2, x3, [x1]\n    ret\n",
                              "b/mixed.S": ".text\nf:\n    movq %rdi, %rax\n    # X0, W1 are just words here\n"
                                           "    ret\n"})
    assert hits(r) == [("x86-asm-file", "blocker", "b/mixed.S", 3)]


def test_preprocessed_assembly_under_an_x86_only_macro_is_not_assembled_on_aarch64(tmp_path):
    # zstd lib/decompress/huf_decompress_amd64.S and portability_macros.h
    r = scan_files(tmp_path, {"common/portability.h": "#if defined(__x86_64__) && defined(__GNUC__)\n"
                                                      "# define ENABLE_ASM_X86_64 1\n#else\n"
                                                      "# define ENABLE_ASM_X86_64 0\n#endif\n",
                              "dec/huf_amd64.S": "#include \"../common/portability.h\"\n#if ENABLE_ASM_X86_64\n"
                                                 ".text\nf:\n    movq %rdi, %rax\n    ret\n#endif\n",
                              "dec/huf.c": "int huf;\n"})
    assert [h for h in hits(r) if h[2].endswith(".S")] == [("x86-asm-file", "warning", "dec/huf_amd64.S", 5)]
    assert hits(r, severity="blocker") == []


def test_other_architectures_folders_are_skipped(tmp_path):
    r = scan_files(tmp_path, {"simd/mips/jsimd_dspr2.S": ".text\nf:\n    addu $t0, $t1, $t2  # eax\n",
                              "simd/powerpc/jsimd.c": "#include <altivec.h>\nint x = _mm_add_ps(a, b);\n"})
    assert hits(r) == []


def test_go_386_assembly_with_an_arm64_sibling(tmp_path):
    r = scan_files(tmp_path, {"cpuid_386.s": "TEXT ·asmCpuid(SB), 7, $0\n    MOVL op+0(FP), AX\n",
                              "cpuid_arm64.s": "TEXT ·getMidr(SB), 7, $0\n", "cpuid.go": "package cpuid\n"})
    assert hits(r) == [("already-ported", "info", "cpuid_386.s", 1)]
