"""Local Mailcow and deSEC stand-ins that reproduce the contracts in shared/contracts (for trials and tests)."""
