import sys

from qnas_edge.cli import main

sys.exit(main())
