"""The basics every stage shares, with no knowledge of targets, products or suites.

- errors.py   exceptions that carry the documented exit codes (0 ok, 1 checks failed, 2 bad input, 3 infra)
- storage.py  the one atomic file writer (temp file in the same folder, fsync, rename, fsync the folder)
- locks.py    an flock on a folder, so processes that share it take turns
- shell.py    the one place that builds shell command text (argv lists, quoted)
- paths.py    the project folder (targets/, products/, results/, whitelist/)
- arch.py     the one table of architecture spellings (uname -m, Debian, RPM, ELF e_machine, wheel tags)
- problems.py the one config-problem collector: every problem of an input file, "file: where: expected ...",
              raised together as one InputError; the bounds on strings in input files
- tomlfile.py the one TOML reader of input files (file:line:column syntax errors, size and nesting bounded)
"""
