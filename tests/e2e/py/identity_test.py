"""An application using Debian's azure-identity and azure-keyvault-keys exactly as against Azure, configured by
the environment alone (AZURE_TENANT_ID, AZURE_CLIENT_ID, AZURE_CLIENT_SECRET, AZURE_AUTHORITY_HOST; the server's
CA in REQUESTS_CA_BUNDLE). Usage: python3 identity_test.py VAULT_URL KEY_NAME: with DefaultAzureCredential and
with ClientSecretCredential, creates an EC key and signs with it; the signature is checked with the key's
public half (the cryptography package, OpenSSL underneath)."""
import hashlib
import os
import sys

from azure.identity import ClientSecretCredential, DefaultAzureCredential
from azure.keyvault.keys import KeyClient
from azure.keyvault.keys.crypto import CryptographyClient, SignatureAlgorithm
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.hazmat.primitives.asymmetric.utils import encode_dss_signature

url, name = sys.argv[1], sys.argv[2]
credentials = {
    "DefaultAzureCredential": DefaultAzureCredential(),
    "ClientSecretCredential": ClientSecretCredential(
        os.environ["AZURE_TENANT_ID"], os.environ["AZURE_CLIENT_ID"], os.environ["AZURE_CLIENT_SECRET"],
        authority=os.environ["AZURE_AUTHORITY_HOST"]),
}
data = b"signed by a Python application of the authority"
digest = hashlib.sha256(data).digest()
for label, credential in credentials.items():
    key = KeyClient(url, credential).create_ec_key(f"{name}-{label}", curve="P-256")
    signed = CryptographyClient(key, credential).sign(SignatureAlgorithm.es256, digest)
    pub = ec.EllipticCurvePublicNumbers(int.from_bytes(key.key.x, "big"), int.from_bytes(key.key.y, "big"),
                                        ec.SECP256R1()).public_key()
    r, s = int.from_bytes(signed.signature[:32], "big"), int.from_bytes(signed.signature[32:], "big")
    pub.verify(encode_dss_signature(r, s), data, ec.ECDSA(hashes.SHA256()))  # raises if it does not verify
    print(f"ok - {label}: {key.name} created and signed, verified by OpenSSL")
