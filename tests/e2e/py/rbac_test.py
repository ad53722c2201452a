"""Managed HSM's access control API through Debian's azure-keyvault-administration (KeyVaultAccessControlClient),
unchanged: an administrator application (DefaultAzureCredential, environment only) lists the role definitions,
assigns Key Vault Crypto User on key K1 to another application, which can then sign with K1 and is refused (403)
on K2; the assignment deleted, its next signature is refused. Usage: python3 rbac_test.py VAULT_URL K1 K2
PRINCIPAL_OBJECT_ID PRINCIPAL_CLIENT_ID PRINCIPAL_SECRET."""
import hashlib
import os
import sys
import uuid

from azure.core.exceptions import HttpResponseError
from azure.identity import ClientSecretCredential, DefaultAzureCredential
from azure.keyvault.administration import KeyVaultAccessControlClient, KeyVaultRoleScope
from azure.keyvault.keys.crypto import CryptographyClient, SignatureAlgorithm

url, k1, k2, oid, client_id, secret = sys.argv[1:7]
admin = KeyVaultAccessControlClient(url, DefaultAzureCredential())
definitions = list(admin.list_role_definitions(KeyVaultRoleScope.GLOBAL))
crypto_user = next(d for d in definitions if d.role_name == "Key Vault Crypto User")
print(f"ok - {len(definitions)} role definitions, Crypto User is {crypto_user.id}")
assignment = admin.create_role_assignment(f"/keys/{k1}", crypto_user.id, oid, name=uuid.uuid4())
assert assignment.properties.principal_id == oid and assignment.properties.scope == f"/keys/{k1}", assignment
assert any(a.name == assignment.name for a in admin.list_role_assignments(KeyVaultRoleScope.GLOBAL))
print(f"ok - Crypto User on /keys/{k1} assigned to {oid} ({assignment.name})")

app = ClientSecretCredential(os.environ["AZURE_TENANT_ID"], client_id, secret,
                             authority=os.environ["AZURE_AUTHORITY_HOST"])
digest = hashlib.sha256(b"role assignments").digest()


def sign(key):
    return CryptographyClient(f"{url}/keys/{key}", app).sign(SignatureAlgorithm.es256, digest)


def refused(key):
    try:
        sign(key)
    except HttpResponseError as e:
        assert e.status_code == 403, e
        return
    raise AssertionError(f"signing with {key} was allowed")


sign(k1)
print(f"ok - the application signs with {k1}")
refused(k2)
print(f"ok - and is refused on {k2}")
admin.delete_role_assignment(f"/keys/{k1}", assignment.name)
refused(k1)
print(f"ok - assignment deleted: {k1} refused at the next request")
