"""Stage 5: the population's encrypted credential bundle (mode 0600; plaintext never on disk)."""

from dagster import AssetExecutionContext, Output, asset

from azt3knet_pipeline.defs.partitions import population_partitions
from azt3knet_pipeline.defs.resources import SettingsResource
from azt3knet_pipeline.names import DNS_RECORDS, MAILBOXES, POPULATION_GROUP
from azt3knet_pipeline.services.credentials import encrypted_bundle, save_bundle


@asset(
    partitions_def=population_partitions,
    group_name=POPULATION_GROUP,
    kinds={"python"},
    deps=[MAILBOXES, DNS_RECORDS],
    description="Fernet-encrypted bundle of every mailbox's credentials and IMAP/SMTP settings.",
)
def credential_export(context: AssetExecutionContext, settings: SettingsResource) -> Output[str]:
    key = context.partition_key
    repo = settings.store()
    token, count = encrypted_bundle(repo, settings.secret_box(), settings.settings, key)
    path = save_bundle(settings.settings, key, token)
    repo.audit("dagster", "credentials.export", key, "ok", {"mailboxes": count, "encrypted": True})
    return Output(
        str(path), metadata={"mailboxes": count, "bundle_path": str(path), "bytes": len(token), "encrypted": True}
    )
