#!/usr/bin/python3
'''Prints the GTest paths a kernel test registers (its sg_ktest_add calls),
one a line, so that meson makes one test per behaviour without a second,
hand-kept list. Fails when a file registers none, or a path twice.'''

import re
import sys

CALL = re.compile(r'\bsg_ktest_add\s*\(\s*"([^"]+)"')

source = open(sys.argv[1], encoding='utf-8').read()
# the helper's own definition is not a registration
paths = CALL.findall(re.sub(r'//[^\n]*|/\*.*?\*/', '', source, flags=re.S))
if not paths:
    sys.exit(f'{sys.argv[1]}: no sg_ktest_add ("/...", ...) calls: register each test with it')
twice = sorted({p for p in paths if paths.count(p) > 1})
if twice:
    sys.exit(f'{sys.argv[1]}: registered twice: {", ".join(twice)}')
print('\n'.join(paths))
