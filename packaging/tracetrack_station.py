"""Entry script of the frozen station (packaging/station.spec): the same `main` as the
`tracetrack-station` console script."""

import sys

from ui.cli import main

if __name__ == "__main__":
    sys.exit(main())
