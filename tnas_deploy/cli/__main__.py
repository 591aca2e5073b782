"""`python -m tnas_deploy.cli`: the same as the `tnas-deploy` command."""
import sys

from . import main

if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
