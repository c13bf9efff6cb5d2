"""Regular expressions that recognise x86-only and ARM code, shared by the scanners.

Kept in one place so the "already ported" logic and the x86 rules agree on what counts as
x86 or ARM: a macro list that differs between two scanners would flag a branch one of them
calls ported.
"""

from __future__ import annotations

import re

# -- preprocessor macros ------------------------------------------------------------------------
X86_MACROS = re.compile(
    r"\b(?:__x86_64__|__x86_64|__amd64__|__amd64|__i386__|__i386|__i486__|__i586__|__i686__|_M_X64|_M_AMD64|"
    r"_M_IX86(?:_FP)?|__X86__|_X86_|__SSE\w*__|__SSSE3__|__AVX\w*__|__MMX__|__FMA4?__|__BMI2?__|__POPCNT__|"
    r"__LZCNT__|__AES__|__PCLMUL__|__F16C__|__SHA__|__RDRND__|__XOP__|__3dNOW__)\b")
ARM_MACROS = re.compile(
    r"\b(?:__aarch64__|__arm64__|__arm64|_M_ARM64|_M_ARM|__arm__|__ARM_NEON__|__ARM_NEON|__ARM_FEATURE_\w+|"
    r"__ARM_ARCH\w*|__ARM_64BIT_STATE|SIMDE_\w+)\b")

# -- headers --------------------------------------------------------------------------------------
X86_HEADER = re.compile(
    r"^\s*#\s*include\s*(?:<(?:[\w./]*/)?(?P<a>[\w]*intrin|cpuid|ia32intrin)\.h>|"
    r"\"(?:[\w./]*/)?(?P<q>(?:x86|imm|xmm|emm|pmm|tmm|smm|nmm|wmm|amm|zmm|avx\w*|mm)intrin)\.h\")")
ARM_HEADER = re.compile(r"^\s*#\s*include\s*[<\"](?:[\w./]*/)?(?:arm_neon|arm_sve|arm_acle|arm_fp16|arm_bf16)\.h[>\"]")
PORTABILITY_HEADER = re.compile(r"^\s*#\s*include\s*[<\"](?:[\w./]*/)?(?:sse2neon\.h|simde/[\w./]+|sse2neon/[\w./]+)[>\"]")
MATH_LIB_HEADER = re.compile(r"^\s*#\s*include\s*[<\"](?P<h>mkl(?:_\w+)?|ipp(?:core|s|i|cp|cc|vm|ch|dc|_\w+)?)\.h[>\"]")

# -- calls ----------------------------------------------------------------------------------------
# A call of a name that may be an intrinsic; harness.scan.intrinsics decides whether it is x86's.
INTRINSIC_CALL = re.compile(r"\b(?P<name>_{1,2}[A-Za-z]\w*)\s*\(")
X86_TARGET_ATTR = re.compile(
    r"\btarget\s*\(\s*\"(?:[^\"]*,)?\s*(?:sse[\w.]*|ssse3|avx[\w.]*|popcnt|bmi2?|fma|lzcnt|pclmul|aes|f16c|"
    r"arch=(?:x86-64|haswell|skylake|core|znver|nehalem)[\w-]*)")
NEON_CALL = re.compile(
    r"\bv(?:add|sub|mul|mla|mls|ld[1-4]|st[1-4]|dup|mov|get|set|and|orr|eor|bic|orn|shl|shr|rshr|sra|qadd|qsub|"
    r"max|min|abs|neg|cvt|cnt|clz|rev|ext|tbl|tbx|zip|uzp|trn|combine|create|reinterpret|padd|pmax|pmin|ceq|cge|"
    r"cgt|cle|clt|tst|bsl|rnd|sqrt|recpe|rsqrte|fma|fms|dot|mull|movl|movn|qmovn|addl|subl|addv|maxv|minv|aes|sha|"
    r"pmull|rbit|cls|sli|sri|abd|hadd|rhadd|qdmul|qrdmul|ldr|str)[a-z0-9_]*?q?_(?:[suf](?:8|16|32|64)|p(?:8|16|64)|"
    r"bf16)\s*\(")
SVE_CALL = re.compile(r"\bsv[a-z0-9_]+_[suf](?:8|16|32|64)(?:_[mxz])?\s*\(")

# -- inline assembly --------------------------------------------------------------------------------
GCC_ASM_START = re.compile(r"\b(?:__asm__|__asm|asm)\b\s*(?:(?:volatile|__volatile__|__volatile|goto|inline)\s*)*\(")
MSVC_ASM = re.compile(r"\b__asm\b\s*(?:\{|[a-z]{2,}\b)|\b_asm\s*\{")
X86_ASM_TEXT = re.compile(
    r"(?:%%?(?:[re]?(?:ax|bx|cx|dx|si|di|sp|bp)|[abcd][lh]|[xyz]mm\d+|r(?:[89]|1[0-5])[dwb]?)\b)|"
    r"\.byte\s+0x(?:0f|f3\s*,\s*0x90|(?:66|f2|f3|4[0-9a-f])\s*,\s*0x0f)\b|"  # raw opcodes: 0f 31 = rdtsc ...
    r"\b(?:cpuid|rdtscp?|pause|lock|xchg[lqwb]?|cmpxchg\w*|mov[lqwb]|movs[bwlq]|lea[lq]|bswap[lq]?|popcnt[lq]?|"
    r"lzcnt[lq]?|tzcnt[lq]?|bs[rf][lq]?|[mls]fence|clflush\w*|prefetch(?:t0|t1|t2|nta|w)|xgetbv|rdrand|rdseed|"
    r"crc32[bwlq]?|push[fl]?[lq]?|pop[fl]?[lq]?|int3|hlt|cli|sti|in[bwl]|out[bwl]|rdmsr|wrmsr|vzeroupper|"
    r"emms|fldcw|fnstcw|fninit|stmxcsr|ldmxcsr)\b", re.I)
# `register long x asm("rax")`: a variable bound to an x86 register.
X86_REGISTER_NAME = re.compile(r"^%?(?:[re]?(?:ax|bx|cx|dx|si|di|sp|bp)|[abcd][lh]|[xyz]mm\d+|r(?:[89]|1[0-5])[dwb]?)$")
REGISTER_BINDING = re.compile(r"\bregister\b[^;{}()]*\b(?:__asm__|__asm|asm)\s*\(\s*\"(?P<reg>[^\"]*)\"\s*\)")
# The x86 MSR and CPUID devices (drivers only x86 Linux has): /dev/cpu/N/msr, /dev/cpu/%d/cpuid.
X86_MSR_DEVICE = re.compile(r"/dev/cpu/(?:\d+|%\w+|\*|\$\{?\w+\}?|\{\w*\}|[\w%*${}#]+)/(?:msr|cpuid)\b|"
                            r"\bmodprobe\s+(?:-\w+\s+)*(?:msr|cpuid)\b")
# msr-tools' commands run from a script (`rdmsr 0x19a`, `wrmsr -p0 0x1a0 ...`).
MSR_TOOL_COMMAND = re.compile(r"(?:^|[`\"'(\s;|&])(?:rdmsr|wrmsr)\s+(?:-[\w-]+(?:\s+\w+)?\s+)*(?:0x[0-9a-fA-F]+|\d+)\b")
# A message that merely mentions the device (`printf("... /dev/cpu/*/msr")`) is no access.
MESSAGE_CALL = re.compile(r"\b(?:f?printf|s?n?printf_s|puts|fputs|perror|syslog|print\w*|echo|warn\w*|die|log\w*|"
                          r"message|say|err|errx|printk|fprintf_\w+)\b\s*[(\s]")
ARM_ASM_TEXT = re.compile(
    r"\b(?:dmb|dsb|isb|mrs|msr|ldxr\w*|stxr\w*|ldaxr\w*|stlxr\w*|ldar\w*|stlr\w*|yield|wfe|wfi|sev|svc|"
    r"cntvct_el0|cntfrq_el0|midr_el1|[xw](?:[12]?\d|3[01])|v\d+\.\d*[bhsd])\b")

# -- assembly files ----------------------------------------------------------------------------------
X86_ASM_FILE_LINE = re.compile(
    r"%(?:[re](?:ax|bx|cx|dx|si|di|sp|bp)|[xyz]mm\d+|r(?:[89]|1[0-5])[dwb]?)\b|"
    r"^\s*(?:bits\s+(?:16|32|64)|default\s+rel|%(?:define|macro|include)\b)|"
    r"\b(?:rax|rbx|rcx|rdx|rsi|rdi|rsp|rbp|eax|ebx|ecx|edx|esi|edi|[xyz]mm(?:[12]?\d|3[01]))\b", re.I)
# AArch64 assembly lines (GNU as): case-sensitive, as AArch64 assembly is written in lower case; never
# applied to NASM/MASM files, whose `X0`-style macro names (`pinsrw X0, word ...`) are x86 registers.
ARM_ASM_FILE_LINE = re.compile(
    r"^\s*(?:ldp|stp|ldr|str|adrp|ret|b\.\w+|cbn?z|tbn?z|fmla|ld1|st1|umull|eor|orr)\s+[xwvq]\d*|"
    r"\b[xw](?:[12]?\d|3[01])\s*,\s*[xw#\[]|\bv\d+\.(?:16b|8b|8h|4h|4s|2s|2d|1d)\b")
NASM_FILE_LINE = re.compile(r"^\s*(?:%(?:define|macro|include|ifdef|assign|xdefine)\b|bits\s+(?:16|32|64)\b|"
                            r"default\s+rel\b|section\s+\.\w+|global\s+\w+|extern\s+\w+|align\s+\d+|"
                            r"\w+\s+(?:PROC|ENDP|SEGMENT)\b|\.model\b|\.code\b|END\s*$)", re.I)

# -- declarations ---------------------------------------------------------------------------------
_ATTRIBUTE = re.compile(r"__attribute__\s*\(\([^()]*(?:\([^()]*\)[^()]*)*\)\)")
_DECLARATION_WORDS = frozenset({"static", "inline", "__inline", "__inline__", "extern", "const", "unsigned", "signed",
                                "struct", "int", "void", "char", "short", "long", "float", "double", "volatile"})


def is_declaration_prefix(text: str) -> bool:
    """`static __inline __m64 ` or `FORCE_INLINE uint32_t *`: only declaration words, `*` and
    attributes before a name, so the name is being declared or defined. Checked word by word (a
    regex alternation over such words backtracks exponentially on a hostile line)."""
    text = _ATTRIBUTE.sub(" ", text)
    if not text.strip() or re.search(r"[^\w\s*]", text):
        return False
    return all(word in _DECLARATION_WORDS or word.endswith("_t") or "INLINE" in word or word.startswith("__m")
               for word in re.findall(r"\w+", text))


# -- names ------------------------------------------------------------------------------------------
X86_NAME = re.compile(r"(?:^|[_\-./])x86|(?:^|[_\-./])(?:x64|amd64|i[3-6]86|ia32|intel|sse\d*(?:_\d)?|ssse3|avx\d*|avx512\w*)"
                      r"(?=$|[_\-./\d])", re.I)
# A folder named for x86 alone (`debug/i386/`, `arch/x86/`, `simd/x86_64/`): what is in it is x86 code.
X86_FOLDER = re.compile(r"(?:^|/)(?:x86|x86[_-]64|x64|amd64|i[3-6]86|ia32|intel64)(?=/|$)", re.I)
ARM_NAME = re.compile(r"(?:^|[_\-./])(?:arm|arm64|aarch64|armv8|neon|sve2?|kunpeng)(?=$|[_\-./\d])", re.I)
ARM_DIRS = ("arm", "arm64", "aarch64", "armv8", "neon", "sve")
# Folders and file-name parts for the other architectures a multi-arch tree carries (MIPS and its
# Loongson MMI, LoongArch, POWER/AltiVec, s390, RISC-V...): code there is built for neither build.
OTHER_ARCH_NAME = re.compile(
    r"(?:^|[_\-./])(?:mips\w*|loongson\w*|loongarch\w*|mmi|msa|lsx|lasx|dspr2|altivec|vsx|powerpc\w*|ppc\w*|"
    r"power[789]|s390x?|zarch|riscv\w*|rvv|sparc\w*|alpha|ia64|e2k|sw_?64|wasm\w*)(?=$|[_\-./\d])", re.I)
OTHER_ARCH_HEADER = re.compile(
    r"^\s*#\s*include\s*[<\"](?:[\w./-]*/)?(?:altivec|msa|lsxintrin|lasxintrin|loongson-mmiintrin|"
    r"loongson-mmintrin|vecintrin|riscv_vector|wasm_simd128|spe|ppu_intrinsics|vec_types)\.h[>\"]")
