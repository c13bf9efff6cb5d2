# The suites under fault_suites/ are run *by* the integration tests through `xch run`; they are not
# tests of xch themselves, so our own test run must not collect them.
collect_ignore = ["fault_suites"]
