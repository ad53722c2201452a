"""An application using Debian's azure-identity and azure-keyvault-secrets exactly as against Azure, configured by
the environment alone (AZURE_TENANT_ID, AZURE_CLIENT_ID, AZURE_CLIENT_SECRET, AZURE_AUTHORITY_HOST; the server's
CA in REQUESTS_CA_BUNDLE). Usage: python3 secrets_test.py VAULT_URL NAME: every operation of SecretClient."""
import sys

from azure.core.exceptions import HttpResponseError, ResourceNotFoundError
from azure.identity import DefaultAzureCredential
from azure.keyvault.secrets import SecretClient

url, name = sys.argv[1], sys.argv[2]
client = SecretClient(url, DefaultAzureCredential())


def ok(what):
    print(f"ok - {what}")


s1 = client.set_secret(name, "pässword-1", content_type="text/plain", tags={"env": "py"})
s2 = client.set_secret(name, "pässword-2")
assert s1.value == "pässword-1" and s1.properties.content_type == "text/plain" and s1.properties.tags == {"env": "py"}
assert client.get_secret(name).value == "pässword-2"
assert client.get_secret(name, s1.properties.version).value == "pässword-1"
ok("set_secret, get_secret (latest and a version)")
assert name in [p.name for p in client.list_properties_of_secrets()]
assert sorted(p.version for p in client.list_properties_of_secret_versions(name)) == sorted(
    [s1.properties.version, s2.properties.version])
ok("list_properties_of_secrets, list_properties_of_secret_versions")
p = client.update_secret_properties(name, s2.properties.version, content_type="application/x", enabled=False)
assert p.content_type == "application/x" and p.enabled is False
try:
    client.get_secret(name)
    raise AssertionError("a disabled secret was read")
except HttpResponseError as e:
    assert e.status_code == 403, e
client.update_secret_properties(name, s2.properties.version, enabled=True)
ok("update_secret_properties (a disabled secret is 403)")
backup = client.backup_secret(name)
deleted = client.begin_delete_secret(name).result()
assert deleted.recovery_id.endswith(f"/deletedsecrets/{name}")
assert client.get_deleted_secret(name).name == name
assert name in [d.name for d in client.list_deleted_secrets()]
client.begin_recover_deleted_secret(name).result()
assert client.get_secret(name).value == "pässword-2"
ok("backup_secret, begin_delete_secret, get/list deleted, begin_recover_deleted_secret")
client.begin_delete_secret(name).result()
client.purge_deleted_secret(name)
try:
    client.get_deleted_secret(name)
    raise AssertionError("a purged secret is still deleted")
except ResourceNotFoundError:
    pass
restored = client.restore_secret_backup(backup)
assert restored.name == name and client.get_secret(name, s1.properties.version).value == "pässword-1"
ok("purge_deleted_secret, restore_secret_backup")
