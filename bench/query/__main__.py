import sys

from bench.query.runner import main

sys.exit(main())
