"""Fail on any `snakemake --lint` finding except the conda/container one (we install from PyPI)."""

import re
import sys

text = sys.stdin.read()
# Findings are blocks that start with a non-indented line inside "Lints for rule X" sections.
ALLOWED = re.compile(r"Specify a conda environment or container for each rule", re.I)
findings = [block for block in re.split(r"\n(?=    \S)", text) if block.startswith("    ") and block.strip()]
bad = [block for block in findings if not ALLOWED.search(block)]
if "Lints for" not in text and text.strip() and "Congratulations" not in text:
    print(text)
    sys.exit("snakemake --lint did not run")
if bad:
    print("\n".join(bad))
    sys.exit(f"snakemake --lint: {len(bad)} finding(s) besides the conda/container directive")
print(f"snakemake --lint: {len(findings)} finding(s), all the allowed conda/container one")
