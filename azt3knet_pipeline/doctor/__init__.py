"""`azt3knet doctor`: check every piece the pipeline depends on, one clear line per check.

Modules: `report` (the lines and the JSON), `config` (settings, MAIL_HOSTNAME), `store` (project store and
key), `instance` (Dagster), `remote` (Mailcow, deSEC) and `run` (all checks in order, scrubbed).

Checks, in order: the settings parse; the project store is reachable and its schema is at the migrations' head;
SECRET_KEY_FOR_KV_ENC is a valid key (list) and decrypts the store's password-derivation secret; the Dagster
instance loads (and which storage it uses); the Mailcow API answers and accepts the key (one cheap read:
`get/domain/all`); the deSEC API answers, accepts the token and holds DESEC_DOMAIN; MAIL_HOSTNAME lies inside
DESEC_DOMAIN.

Each remote check makes exactly ONE request, never retried: Mailcow's fail2ban bans an address after repeated
bad keys. The store check only reads (it never creates or migrates). Loading the Dagster instance does what
every command does: it creates DAGSTER_HOME and its generated dagster.yaml if they are missing.

Nothing here prints a secret: every detail line is scrubbed of the key, tokens and database passwords.
"""

from azt3knet_pipeline.doctor.report import Check, Report, print_report
from azt3knet_pipeline.doctor.run import run_checks

__all__ = ["Check", "Report", "print_report", "run_checks"]
