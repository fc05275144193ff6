import sys

from difffit.cli import main

sys.exit(main())
