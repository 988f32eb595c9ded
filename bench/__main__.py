"""`python -m bench`: every benchmark, one after the other, each writing its table into docs/."""

from __future__ import annotations

import sys

from bench import acks, dashboard, fleet, head_of_line, hook_throughput, hooks, lanes, pipeline, sse, suite, throughput

if __name__ == "__main__":
    for module in (
        suite,
        acks,
        throughput,
        hook_throughput,
        pipeline,
        hooks,
        sse,
        head_of_line,
        lanes,
        fleet,
        dashboard,
    ):
        sys.argv = [module.__name__]
        module.main()
        print()
