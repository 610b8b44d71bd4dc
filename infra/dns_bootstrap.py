"""Write the zone's base DNS records on deSEC (thin wrapper over `azt3knet dns bootstrap`)."""

import sys

from azt3knet_pipeline.cli.app import app

if __name__ == "__main__":
    sys.exit(app(["dns", "bootstrap", *sys.argv[1:]]))
