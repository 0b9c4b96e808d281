"""Plan: what the specs want against what the store holds, as actions with their cost. Pure.

assemble.py   one plan for every command (plan, apply, watch, the simulation)
diff.py       the pure diff: desired keys against observed outputs and attempts -> Plan
latency.py    how long a model's jobs take on one backend, learned from the jobs themselves
lock.py       the lock file: every spec's name with its key and the video stored for it
"""
