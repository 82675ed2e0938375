#!/usr/bin/python3
'''Measures an idle seatgate-agent: memory (smaps_rollup) and wake-ups
(context switches of all its threads) over an idle period, in the lab with
the real helper, a tray watcher and the console user's granted session.

    sudo tests/lab/netns-run /usr/bin/python3 tests/agent/footprint.py [SECONDS]

Environment: SEATGATE_AGENT, SEATGATE_HELPER (built binaries).'''

import glob
import os
import sys
import time

sys.path.insert(0, os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))), 'lab'))
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

import seatgate_lab  # noqa: E402
from agent_lab import AgentLab  # noqa: E402


def switches(pid):
    '''{thread name: voluntary + involuntary context switches}.'''
    out = {}
    for task in glob.glob(f'/proc/{pid}/task/*'):
        fields = {}
        with open(os.path.join(task, 'status'), encoding='ascii') as f:
            for line in f:
                key, _, value = line.partition(':')
                fields[key] = value.strip()
        out[f'{fields["Name"]}/{os.path.basename(task)}'] = \
            int(fields['voluntary_ctxt_switches']) + int(fields['nonvoluntary_ctxt_switches'])
    return out


def main():
    idle = float(sys.argv[1]) if len(sys.argv) > 1 else 60.0
    with seatgate_lab.Lab() as lab:
        lab.start()
        lab.standard_world()
        lab.listen(seatgate_lab.DEFAULT_PORT)
        lab.start_helper()
        with AgentLab(lab) as desk:
            desk.start_watcher()
            desk.start_notifications()
            agent = desk.agent(seatgate_lab.CONSOLE_UID, seatgate_lab.CONSOLE_SESSION, args=())
            agent.wait_state('seatgate-granted')
            time.sleep(1.0)  # let start-up settle
            before = switches(agent.pid)
            time.sleep(idle)
            after = switches(agent.pid)
            mem = seatgate_lab.smaps_rollup(agent.pid)
            print(f'idle agent, pid {agent.pid}, threads: {len(after)}')
            print(f'  Rss {mem["Rss"]} kB, Pss {mem["Pss"]} kB, Private_Dirty {mem["Private_Dirty"]} kB,'
                  f' Private_Clean {mem.get("Private_Clean", 0)} kB')
            total = 0
            for name in sorted(after):
                n = after[name] - before.get(name, 0)
                total += n
                print(f'  {name}: {n} context switches in {idle:.0f} s')
            print(f'  total: {total} context switches in {idle:.0f} s')
            return 0 if total == 0 else 1


if __name__ == '__main__':
    sys.exit(main())
