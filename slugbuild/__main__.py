import sys

from slugbuild.cli import main

sys.exit(main())
