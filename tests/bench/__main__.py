import sys

from tests.bench.suite import main

sys.exit(main())
