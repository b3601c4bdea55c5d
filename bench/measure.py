"""Runs a command and reports its wall time, CPU seconds, peak RSS and its
RSS over time (the peak within each tenth of the run, in MiB), so a table
shows whether memory grows with the data or stays bounded.

    python3 bench/measure.py OUT.json -- COMMAND ARGS...
"""
import json
import resource
import subprocess
import sys
import time

out, command = sys.argv[1], sys.argv[sys.argv.index("--") + 1:]
start = time.monotonic()
child = subprocess.Popen(command, stdout=subprocess.PIPE)
samples = []
while child.poll() is None:
    try:
        with open(f"/proc/{child.pid}/status") as status:
            for line in status:
                if line.startswith("VmRSS:"):
                    samples.append((time.monotonic() - start, int(line.split()[1]) // 1024))
    except (FileNotFoundError, ProcessLookupError):
        pass
    time.sleep(0.05)
stdout = child.stdout.read().decode()
wall = time.monotonic() - start
usage = resource.getrusage(resource.RUSAGE_CHILDREN)
tenths = []
for i in range(10):
    inside = [rss for t, rss in samples if i * wall / 10 <= t < (i + 1) * wall / 10]
    tenths.append(max(inside) if inside else None)
json.dump({
    "status": child.returncode,
    "wall": round(wall, 2),
    "cpu": round(usage.ru_utime + usage.ru_stime, 1),
    "peak_rss_mib": usage.ru_maxrss // 1024,
    "rss_by_tenth_mib": tenths,
    "stdout": stdout,
}, open(out, "w"))
sys.exit(child.returncode)
