#!/usr/bin/env python3
"""scan-filter.py REPORT-DIR BUILD-DIR

Reads the .plist reports scan-build wrote under REPORT-DIR (source paths in them are relative
to BUILD-DIR, where the compiler ran), drops the analyzer's false positives about _cleanup_
variables, prints the rest, and exits 1 when any remain.

clang's analyzer does not model __attribute__((cleanup)): a variable declared with _cleanup_free_
(or any _cleanup_(...)) that goes out of scope on an early return is reported as "Potential leak
of memory pointed to by 'x'", although the cleanup frees it.  Such a report is dropped only when
the reported variable is declared with _cleanup_ in the function the report points into; every
other report, leaks of plain variables included, stays a finding.  Real leaks of _cleanup_
variables (overwritten before going out of scope) are LeakSanitizer's job: scripts/test.sh runs
every suite under ASan with leak detection on.  For the same reason "Value stored to 'x' is never
read" is dropped when x is declared with _cleanup_: its cleanup reads it.
"""
import os
import plistlib
import re
import sys

LEAK = re.compile(r"^(?:Potential leak of memory pointed to by|Value stored to) "
                  r"'([A-Za-z_][A-Za-z0-9_]*)'(?: is never read)?$")


def function_text(path, line):
    """The text from the start of the function enclosing line (Linux brace style: a '{' alone
    in column 0) to that line."""
    try:
        with open(path, encoding="utf-8", errors="replace") as f:
            lines = f.readlines()
    except OSError:
        return ""
    start = line - 1
    while start > 0 and lines[start].rstrip("\n") != "{":
        start -= 1
    return "".join(lines[start:line])


def declared_cleanup(text, var):
    """Whether text declares var in a _cleanup_ declaration statement."""
    for decl in re.finditer(r"_cleanup_\w*(\([^)]*\))?[^;{}]*;", text):
        if re.search(r"[\s*,]" + re.escape(var) + r"\s*(=|,|;|\[)", decl.group(0)):
            return True
    return False


def main(report_dir, build_dir):
    findings, suppressed, seen = [], [], set()
    for root, _, files in os.walk(report_dir):
        for name in files:
            if not name.endswith(".plist"):
                continue
            with open(os.path.join(root, name), "rb") as f:
                data = plistlib.load(f)
            sources = data.get("files", [])
            for d in data.get("diagnostics", []):
                loc = d["location"]
                path = os.path.normpath(os.path.join(build_dir, sources[loc["file"]]))
                key = (path, loc["line"], d["description"])
                if key in seen:  # a header is analysed once per file that includes it
                    continue
                seen.add(key)
                where = "%s:%d:%d" % (os.path.relpath(path), loc["line"], loc["col"])
                text = "%s: %s [%s]" % (where, d["description"], d.get("check_name", "?"))
                m = LEAK.match(d["description"])
                if m and declared_cleanup(function_text(path, loc["line"]), m.group(1)):
                    suppressed.append(text)
                else:
                    findings.append(text)
    for s in sorted(suppressed):
        print("scan-build: ignored (a _cleanup_ variable, freed by its cleanup): " + s)
    for s in sorted(findings):
        print("scan-build: " + s, file=sys.stderr)
    print("scan-build: %d findings, %d _cleanup_ false positives ignored"
          % (len(findings), len(suppressed)))
    return 1 if findings else 0


if __name__ == "__main__":
    if len(sys.argv) != 3:
        sys.exit(__doc__)
    sys.exit(main(sys.argv[1], sys.argv[2]))
