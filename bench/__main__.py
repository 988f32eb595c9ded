"""`python -m bench`: every benchmark, one after the other, each writing its table into docs/."""

from __future__ import annotations

import sys

from bench import hooks, pipeline

if __name__ == "__main__":
    for module in (pipeline, hooks):
        sys.argv = [module.__name__]
        module.main()
        print()
