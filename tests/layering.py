#!/usr/bin/env python3
"""Checks that every src/<module> includes only the modules it may (DEVELOPERS.md,
"Which module may include which"): dependencies run one way, so no layer knows
the one above it. Prints each include that breaks the rule, with its file and
line, and exits 1; exits 0 when every include is allowed.

usage: layering.py SRC_DIR
"""
import os
import re
import sys

RFC = {"sts", "dane"}
NETWORK = {"dns", "http"}
# What each module may include besides itself. A new module joins this table and
# DEVELOPERS.md together.
ALLOWED = {
    "util": set(),
    "dane": set(),
    "sts": {"util"},
    "dns": {"util"},
    "http": {"util"},
    "config": {"util"},  # never an RFC module: values are shown with util::log_text
    "socketmap": {"util"},  # asks a RequestHandler, never the resolver
    "metrics": {"util"},  # the daemon decides what is exported
    "cache": RFC | {"util"},
    "resolver": RFC | NETWORK | {"cache", "util"},  # never socketmap, config, daemon
    "control": RFC | {"config", "cache", "util"},
    "setup": RFC | NETWORK | {"config", "resolver", "socketmap", "cache", "util"},
}
BELOW_PROGRAMS = set(ALLOWED)
ALLOWED["daemon"] = BELOW_PROGRAMS  # every library, never cli
ALLOWED["cli"] = BELOW_PROGRAMS  # mta-stsctl does not link the daemon

INCLUDE = re.compile(r'^\s*#\s*include\s+"([a-z_]+)/')


def main(src):
    modules = sorted(d for d in os.listdir(src) if os.path.isdir(os.path.join(src, d)))
    broken = []
    unknown = [m for m in modules if m not in ALLOWED]
    for module in unknown:
        broken.append("src/%s: a module this check does not know; add it to ALLOWED "
                      "(tests/layering.py) and to DEVELOPERS.md" % module)
    for module in modules:
        allowed = ALLOWED.get(module, set()) | {module}
        root = os.path.join(src, module)
        for dirpath, _, files in os.walk(root):
            for name in sorted(files):
                if not name.endswith((".hpp", ".cpp", ".h")):
                    continue
                path = os.path.join(dirpath, name)
                with open(path, encoding="utf-8") as f:
                    for number, line in enumerate(f, 1):
                        m = INCLUDE.match(line)
                        if m and m.group(1) not in allowed and m.group(1) in ALLOWED:
                            broken.append("%s:%d: %s includes %s/ (allowed: %s)" % (
                                os.path.relpath(path, os.path.dirname(src)), number, module,
                                m.group(1), ", ".join(sorted(allowed - {module})) or "nothing"))
    for line in broken:
        print(line)
    if broken:
        print("%d include(s) against the layering rules" % len(broken))
        return 1
    print("%d modules: every include is allowed" % len(modules))
    return 0


if __name__ == "__main__":
    if len(sys.argv) != 2:
        sys.exit(__doc__)
    sys.exit(main(sys.argv[1]))
