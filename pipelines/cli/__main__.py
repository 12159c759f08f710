"""`python -m pipelines.cli ...` is `longlm ...`."""

import sys

from pipelines.cli import main

sys.exit(main())
