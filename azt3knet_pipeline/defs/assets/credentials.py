"""Stage 5: the population's encrypted credential bundle (mode 0600; plaintext never on disk)."""

from dagster import AssetExecutionContext, Output, asset

from azt3knet_pipeline.clients.factory import secret_box
from azt3knet_pipeline.defs.partitions import population_partitions
from azt3knet_pipeline.defs.resources import StoreResource
from azt3knet_pipeline.names import DNS_RECORDS, MAILBOXES, POPULATION_GROUP
from azt3knet_pipeline.services.credentials import encrypted_bundle, save_bundle
from azt3knet_pipeline.settings import get_settings


@asset(
    partitions_def=population_partitions,
    group_name=POPULATION_GROUP,
    deps=[MAILBOXES, DNS_RECORDS],
    description="Fernet-encrypted bundle of every mailbox's credentials and IMAP/SMTP settings.",
)
def credential_export(context: AssetExecutionContext, store: StoreResource) -> Output[str]:
    settings = get_settings()
    key = context.partition_key
    repo = store.open()
    token, count = encrypted_bundle(repo, secret_box(settings), settings, key)
    path = save_bundle(settings, key, token)
    repo.audit("dagster", "credentials.export", key, "ok", {"mailboxes": count, "encrypted": True})
    return Output(
        str(path), metadata={"mailboxes": count, "bundle_path": str(path), "bytes": len(token), "encrypted": True}
    )
