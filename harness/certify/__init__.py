"""`xch certify`: compat on every target, then the suites a product asks for, then evidence.

- orchestrate.py  the plan (suites, baseline) and the Certification that runs perf and migration with the
                  product deployed on one target at a time, folding their records into the compat run
- evidence.py     one evidence bundle (.tar.gz with SM3 and sha256 of every file) per product x target
"""
