#!/usr/bin/python3
'''Prints FILE::test_name for every top-level `def test_*` in the given
pytest files, one per line, for meson to register one test each. Fails on a
name used twice, since meson test names must be unique.'''

import re
import sys

seen = {}
for path in sys.argv[1:]:
    with open(path, encoding='utf-8') as f:
        for line in f:
            m = re.match(r'def (test_\w+)\s*\(', line)
            if not m:
                continue
            name = m.group(1)
            if name in seen:
                sys.exit(f'{name} is defined in {seen[name]} and {path}')
            seen[name] = path
            print(f'{path}::{name}')
