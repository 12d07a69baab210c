#!/usr/bin/env python3
"""OPERATING.md's configuration reference is what `ecowarnd --config-reference` prints from the
option table. `reference.py ECOWARND OPERATING.md` fails with a diff when they differ;
`--write` puts the table in place (make reference)."""
import difflib
import subprocess
import sys

BEGIN = "<!-- BEGIN ecowarnd --config-reference -->\n"
END = "<!-- END ecowarnd --config-reference -->\n"


def main():
    ecowarnd, doc = sys.argv[1], sys.argv[2]
    write = "--write" in sys.argv[3:]
    table = subprocess.run([ecowarnd, "--config-reference"], check=True, capture_output=True,
                           text=True).stdout
    with open(doc, encoding="utf-8") as f:
        text = f.read()
    if text.count(BEGIN) != 1 or text.count(END) != 1:
        sys.exit(f"{doc}: expected one {BEGIN.strip()} ... {END.strip()} block")
    head, rest = text.split(BEGIN)
    now, tail = rest.split(END)
    if now == table:
        return
    if write:
        with open(doc, "w", encoding="utf-8") as f:
            f.write(head + BEGIN + table + END + tail)
        print(f"{doc}: configuration reference written")
        return
    sys.stdout.writelines(difflib.unified_diff(now.splitlines(True), table.splitlines(True),
                                               f"{doc} (the reference)",
                                               "ecowarnd --config-reference"))
    sys.exit(f"{doc}: the configuration reference differs from the option table: make reference")


if __name__ == "__main__":
    main()
