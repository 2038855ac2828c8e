import sys

from depthbench.benchmarks.cli import main

sys.exit(main())
