"""Local Mailcow and deSEC stand-ins that reproduce the contracts in docs/contracts (for trials and tests).

`mailcow/` and `desec/` are the stand-ins (each with the same control API: `counters()`, `state()`, `faults()`,
`set_faults()`, `reset()`, `reset_counters()`, and `/_sandbox/` routes); `dovecot` and `smtp_sink` a real mail
server whose users follow the Mailcow stand-in; `run` starts them together. Shipped code never imports this
package: only the CLI (`azt3knet sandbox`, `azt3knet demo`), tests and benchmarks do.
"""
