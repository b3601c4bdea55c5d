"""Appends a Markdown section to the "Schedule benchmark" part of the
results file (bench/RESULTS.md), creating that part when it is missing.

    python3 bench/append-section.py RESULTS SECTION_FILE

Used by bench/schedule.sh and bench/costs.sh.
"""

import sys

HEADING = "# Schedule benchmark\n"
INTRO = """
`bench/schedule.sh` (`BENCH_FLOWS`, `BENCH_MINUTES`, `BENCH_PROFILE`,
`BENCH_FINISH`, `BENCH_FLOOR`, `BENCH_FLOOR_CONCURRENCY`): N Flows scheduled every minute (`* * * * *`,
`concurrencyPolicy: Allow`, history of one run per outcome) against the
local control plane. Per scheduled minute: the delay from the scheduled time
to the FlowRun's ADDED event on a watch (target p99 ≤ 2 s) and from that to
the Job's (target p50 ≤ 200 ms), both on the local clock; the controller's
peak RSS (VmHWM; target ≤ 128 MiB) and CPU seconds. No pod runs (no
kubelet): without `BENCH_FINISH` runs stay active and pile up, one more per
Flow and minute.
"""


def main(path, section_path):
    section = open(section_path).read()
    text = open(path).read()
    if HEADING not in text:
        text = text.rstrip("\n") + "\n\n" + HEADING + INTRO
    start = text.index(HEADING) + len(HEADING)
    end = text.find("\n# ", start)
    end = len(text) if end < 0 else end + 1
    body = text[start:end].rstrip("\n") + "\n" + section
    text = text[:start] + body + ("\n" + text[end:] if end < len(text) else "")
    open(path, "w").write(text)


if __name__ == "__main__":
    main(sys.argv[1], sys.argv[2])
