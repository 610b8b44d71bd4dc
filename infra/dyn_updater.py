"""One dynamic-DNS update of the mail host's A/AAAA from the shell (thin wrapper over `azt3knet dns dyndns`)."""

import sys

from azt3knet_pipeline.cli.app import app

if __name__ == "__main__":
    sys.exit(app(["dns", "dyndns", *sys.argv[1:]]))
