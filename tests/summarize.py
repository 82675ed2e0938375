#!/usr/bin/python3
"""Counts every test meson ran, each TAP subtest of a GTest program on its
own, and prints 'N passed, N failed[, N skipped]'."""
import json
import re
import sys

passed = failed = skipped = 0
with open(sys.argv[1]) as log:
    for line in log:
        test = json.loads(line)
        out = test.get('stdout') or ''
        tap = [l for l in out.splitlines() if re.match(r'(not )?ok \d+', l)]
        if tap and test.get('protocol', '') in ('tap', 'TAP', 'TestProtocol.TAP'):
            for l in tap:
                if l.startswith('not ok'):
                    failed += 1
                elif re.search(r'#\s*skip', l, re.I):
                    skipped += 1
                else:
                    passed += 1
            # A crash after the last subtest still fails the program.
            if test['result'] not in ('OK', 'EXPECTEDFAIL', 'SKIP') and not any(
                    l.startswith('not ok') for l in tap):
                failed += 1
        elif test['result'] in ('OK', 'EXPECTEDFAIL'):
            passed += 1
        elif test['result'] == 'SKIP':
            skipped += 1
        else:
            failed += 1
line = f'{passed} passed, {failed} failed'
if skipped:
    line += f', {skipped} skipped'
print(line)
