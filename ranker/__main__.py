"""`python -m ranker` prints the full evaluation table (same as `python -m ranker.evaluation`)."""
from .evaluation import main

raise SystemExit(main())
