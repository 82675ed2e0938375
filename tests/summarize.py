#!/usr/bin/python3
"""Counts every test meson ran (in each testlog.json given), each TAP subtest
of a GTest program on its own, and prints 'N passed, N failed[, N skipped]'."""
import json
import re
import sys

TAP_LINE = re.compile(r'(not )?ok \d+')


def results(test):
    '''Yields 'passed', 'failed' or 'skipped' for each test in one entry.'''
    out = test.get('stdout') or ''
    tap = [l for l in out.splitlines() if TAP_LINE.match(l)]
    ok = test['result'] in ('OK', 'EXPECTEDFAIL')
    # meson's log does not name the protocol; a TAP plan line tells.
    if not tap or not re.search(r'^1\.\.\d+', out, re.M):
        yield 'passed' if ok else 'skipped' if test['result'] == 'SKIP' else 'failed'
        return
    for line in tap:
        if line.startswith('not ok'):
            yield 'failed'
        elif re.search(r'#\s*skip', line, re.I):
            yield 'skipped'
        else:
            yield 'passed'
    # A program that crashed after its last subtest still failed.
    if not ok and test['result'] != 'SKIP' and not any(l.startswith('not ok') for l in tap):
        yield 'failed'


counts = {'passed': 0, 'failed': 0, 'skipped': 0}
for path in sys.argv[1:]:
    with open(path) as log:
        for line in log:
            for result in results(json.loads(line)):
                counts[result] += 1
summary = f"{counts['passed']} passed, {counts['failed']} failed"
if counts['skipped']:
    summary += f", {counts['skipped']} skipped"
print(summary)
