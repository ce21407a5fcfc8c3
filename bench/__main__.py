"""``python -m bench``: run every part and write docs/benchmarks.md."""

from bench.run import main

raise SystemExit(main())
