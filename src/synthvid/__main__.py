import sys

from synthvid.cli import main

sys.exit(main())
