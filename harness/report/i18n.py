"""User-facing report text in Chinese (the default) and English.

One table, `STRINGS`, keyed by a short id. Templates call `t("id")`; the matrix script gets the
subset it needs as JSON. Status, level, stage, category and outcome values from the database are
translated through their own tables, and an unknown value is shown as it is (escaped, like any
other data).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

LANGS = ("zh", "en")
DEFAULT_LANG = "zh"

STRINGS: dict[str, tuple[str, str]] = {
    # site
    "site_title": ("信创产品兼容性报告", "Xinchuang compatibility report"),
    "nav_overview": ("概览", "Overview"),
    "nav_matrix": ("兼容性矩阵", "Compatibility matrix"),
    "nav_products": ("产品", "Products"),
    "nav_platforms": ("平台", "Platforms"),
    "nav_runs": ("测试运行", "Runs"),
    "nav_certificates": ("证书", "Certificates"),
    "nav_migration": ("迁移评估", "Migration"),
    "nav_digest": ("期间摘要", "Period digest"),
    "switch_lang": ("English", "中文"),
    "generated": ("生成时间", "Generated"),
    "database": ("数据库", "Database"),
    "emulation_note": ("注意：标注为“仿真”的平台在 qemu 仿真下运行（qemu-user 用户态仿真或 TCG 全系统仿真），"
                       "其耗时与性能数据来自仿真，不代表真实芯片。",
                       "Note: platforms marked \"emulated\" run under qemu emulation (qemu-user, or full-system TCG); "
                       "their timings and performance figures come from emulation, not real silicon."),
    "emulated": ("仿真", "emulated"),
    "none": ("无", "none"),
    "total": ("合计", "Total"),
    "count": ("数量", "Count"),
    "more_rows": ("另有 {n} 行未显示", "{n} more rows not shown"),
    # overview
    "overview_title": ("兼容性概览", "Compatibility overview"),
    "by_status": ("按结论", "By status"),
    "by_category": ("按类别", "By category"),
    "by_cpu": ("按 CPU 系列", "By CPU family"),
    "by_os": ("按操作系统", "By operating system"),
    "expiring": ("即将到期的证书（{days} 天内）", "Certificates expiring within {days} days"),
    "latest_runs": ("最近的测试运行", "Latest runs"),
    "products_count": ("产品版本", "Product versions"),
    "platforms_count": ("平台", "Platforms"),
    "entries_count": ("白名单条目", "Whitelist entries"),
    "certificates_count": ("有效证书", "Valid certificates"),
    # matrix
    "matrix_title": ("兼容性矩阵（产品 × 平台）", "Compatibility matrix (products × platforms)"),
    "search": ("搜索", "Search"),
    "search_placeholder": ("产品、厂商或版本", "product, vendor or version"),
    "vendor": ("厂商", "Vendor"),
    "category": ("类别", "Category"),
    "cpu": ("CPU", "CPU"),
    "os": ("操作系统", "OS"),
    "status": ("结论", "Status"),
    "all": ("全部", "All"),
    "product": ("产品", "Product"),
    "version": ("版本", "Version"),
    "page": ("页", "Page"),
    "prev": ("上一页", "Previous"),
    "next": ("下一页", "Next"),
    "rows_shown": ("显示 {from}–{to} / 共 {total} 行", "Showing {from}–{to} of {total} rows"),
    "no_rows": ("没有符合条件的产品", "No product matches the filters"),
    "sort_hint": ("点击表头排序", "Click a column header to sort"),
    "noscript": ("矩阵需要 JavaScript；无 JavaScript 时请使用产品列表。",
                 "The matrix needs JavaScript; without it, use the product list."),
    "legend": ("图例", "Legend"),
    "compatible_count": ("兼容平台数", "Compatible platforms"),
    # product
    "product_title": ("产品", "Product"),
    "contact": ("联系人", "Contact"),
    "platform": ("平台", "Platform"),
    "level": ("认证等级", "Level"),
    "stage": ("推广阶段", "Stage"),
    "certificate": ("证书", "Certificate"),
    "valid_until": ("有效期至", "Valid until"),
    "reasons": ("条件/原因", "Conditions or reasons"),
    "failed_checks": ("未通过的检查", "Failed checks"),
    "check": ("检查项", "Check"),
    "outcome": ("结果", "Outcome"),
    "reason": ("原因", "Reason"),
    "target": ("目标机", "Target"),
    "evidence": ("证据", "Evidence"),
    "logs": ("日志", "Logs"),
    "run": ("运行", "Run"),
    "covered_by": ("结论继承自", "Covered by"),
    "kind": ("来源", "Source"),
    "perf_title": ("性能：相对 x86 基线的比值（95% 置信区间）", "Performance: ratio to the x86 baseline (95% CI)"),
    "perf_axis": ("相对基线比值（>1 更好）", "ratio to baseline (>1 is better)"),
    "perf_none": ("没有与基线对比的性能数据。", "No performance figures compared with a baseline."),
    "metric": ("指标", "Metric"),
    "median": ("中位数", "Median"),
    "baseline": ("基线", "Baseline"),
    "ratio": ("比值", "Ratio"),
    "ci": ("置信区间", "CI"),
    "significant": ("显著", "Significant"),
    "verdict": ("判定", "Verdict"),
    "yes": ("是", "yes"),
    "no": ("否", "no"),
    "versions": ("版本", "Versions"),
    "history": ("历史", "History"),
    # platform
    "platform_title": ("平台", "Platform"),
    "arch": ("架构", "Architecture"),
    "kernel": ("内核", "Kernel"),
    "glibc": ("glibc", "glibc"),
    "accelerator": ("加速卡", "Accelerator"),
    "declared_only": ("仅声明，未实测", "declared only, not tested"),
    "tested_here": ("在此平台上的结论", "Results on this platform"),
    # run
    "run_title": ("测试运行", "Run"),
    "suite": ("测试套件", "Suite"),
    "started": ("开始", "Started"),
    "ended": ("结束", "Ended"),
    "digest_sm3": ("SM3 摘要", "SM3 digest"),
    "source_path": ("运行目录", "Run folder"),
    "results_failures_first": ("全部结果（失败优先）", "All results (failures first)"),
    "duration": ("耗时 (秒)", "Duration (s)"),
    "log_missing": ("日志不可用（运行目录已移动或删除）", "log not available (run folder moved or removed)"),
    "log_truncated": ("日志已截断", "log truncated"),
    "lab": ("实验室", "Lab"),
    "organisation": ("测试机构", "Test organisation"),
    # certificate
    "cert_title": ("兼容性认证证书", "Compatibility certificate"),
    "cert_no": ("证书编号", "Certificate number"),
    "issued_at": ("签发日期", "Issued"),
    "expires_at": ("有效期至", "Expires"),
    "issued_by": ("签发人", "Issued by"),
    "approvers": ("审核人", "Approvers"),
    "evidence_sm3": ("证据摘要（SM3）", "Evidence digest (SM3)"),
    "evidence_files": ("证据文件", "Evidence files"),
    "revoked": ("已撤销", "Revoked"),
    "cert_statement": ("经测试，下列产品在所列平台上达到以下兼容性结论。",
                       "The product below was tested and reached this compatibility result on the platform listed."),
    "print": ("打印", "Print"),
    # migration
    "migration_title": ("迁移评估", "Migration assessment"),
    "scan_findings": ("代码扫描发现（按规则）", "Scan findings by rule"),
    "scan_by_file": ("按文件", "By file"),
    "rule": ("规则", "Rule"),
    "severity": ("严重程度", "Severity"),
    "file": ("文件", "File"),
    "line": ("行", "Line"),
    "snippet": ("代码", "Snippet"),
    "suggestion": ("建议", "Suggestion"),
    "effort_hours": ("工作量 (小时)", "Effort (hours)"),
    "assessment": ("系统评估", "System assessment"),
    "readiness": ("就绪度", "Readiness"),
    "ready": ("可迁移", "Ready"),
    "blockers": ("阻塞项", "Blockers"),
    "warnings": ("警告", "Warnings"),
    "area": ("领域", "Area"),
    "item": ("项目", "Item"),
    "detail": ("详情", "Detail"),
    "parity": ("行为一致性差异", "Behaviour parity differences"),
    "source_side": ("源系统", "Source"),
    "destination_side": ("目标系统", "Destination"),
    "no_migration": ("没有迁移数据（用 --scan、--assessment、--parity-run 提供）。",
                     "No migration data (give --scan, --assessment, --parity-run)."),
    "no_differences": ("没有差异。", "No differences."),
    # digest
    "digest_title": ("期间摘要", "Period digest"),
    "period": ("期间", "Period"),
    "certified": ("新认证", "Certified"),
    "failed_in_period": ("新增不兼容", "Found incompatible"),
    "expired": ("证书到期", "Certificates expired"),
    "changed": ("结论变化", "Status changed"),
    "revoked_in_period": ("证书撤销", "Certificates revoked"),
    "from_status": ("原结论", "From"),
    "to_status": ("新结论", "To"),
    "at": ("时间", "At"),
    "nothing": ("无", "nothing"),
}

STATUS = {
    "compatible": ("兼容", "compatible"),
    "conditional": ("有条件兼容", "conditional"),
    "incompatible": ("不兼容", "incompatible"),
    "pending": ("待测", "pending"),
}
LEVEL = {"compatible": ("兼容级", "compatible"), "validated": ("验证级", "validated")}
STAGE = {"lab": ("实验室", "lab"), "pilot": ("试点", "pilot"), "rollout": ("推广", "rollout")}
KIND = {"tested": ("实测", "tested"), "covered": ("继承", "covered"), "declared": ("声明", "declared"),
        "external": ("外部名单", "external list")}
OUTCOME = {"passed": ("通过", "passed"), "failed": ("失败", "failed"), "error": ("错误", "error"),
           "skipped": ("跳过", "skipped")}
CATEGORY = {
    "operating-system": ("操作系统", "operating system"), "database": ("数据库", "database"),
    "middleware": ("中间件", "middleware"), "office": ("办公软件", "office"), "application": ("应用软件", "application"),
    "driver": ("驱动", "driver"), "tool": ("工具", "tool"), "server": ("整机", "server"), "chip": ("芯片", "chip"),
    "storage": ("存储", "storage"), "network": ("网络", "network"), "terminal": ("终端", "terminal"),
}
SEVERITY = {"blocker": ("阻塞", "blocker"), "warning": ("警告", "warning"), "info": ("提示", "info"),
            "ok": ("正常", "ok")}
TABLES = {"status": STATUS, "level": LEVEL, "stage": STAGE, "kind": KIND, "outcome": OUTCOME, "category": CATEGORY,
          "severity": SEVERITY}


def check_lang(lang: str) -> str:
    if lang not in LANGS:
        from harness.core.errors import InputError

        raise InputError(f"--lang {lang!r}: expected zh, en or both")
    return lang


def translator(lang: str) -> Callable[..., str]:
    """t("key", n=3) -> the string in `lang`, with {placeholders} filled in."""
    index = LANGS.index(check_lang(lang))

    def t(key: str, **values: Any) -> str:
        pair = STRINGS.get(key)
        text = pair[index] if pair else key
        for name, value in values.items():
            text = text.replace("{" + name + "}", str(value))
        return text

    return t


def value_translator(lang: str) -> Callable[[str, Any], str]:
    """tv("status", "compatible") -> 兼容; unknown values come back unchanged."""
    index = LANGS.index(check_lang(lang))

    def tv(table: str, value: Any) -> str:
        if value is None or value == "":
            return ""
        pair = TABLES[table].get(str(value))
        return pair[index] if pair else str(value)

    return tv


def script_strings(lang: str) -> dict[str, Any]:
    """What the matrix script needs, in one language."""
    t, tv = translator(lang), value_translator(lang)
    keys = ("all", "prev", "next", "rows_shown", "no_rows", "product", "version", "vendor", "category",
            "compatible_count", "emulated")
    return {"t": {k: t(k) for k in keys}, "status": {k: tv("status", k) for k in STATUS},
            "kind": {k: tv("kind", k) for k in KIND}, "category": {k: tv("category", k) for k in CATEGORY}}
