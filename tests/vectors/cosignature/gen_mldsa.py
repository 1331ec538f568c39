"""Writes dilithium_py_subtree_v1.json: ML-DSA-44 ``subtree/v1`` cosignature vectors computed with
dilithium-py 1.5.1 (a pure-Python FIPS 204 implementation, independent of OpenSSL), with the
signed message built here from c2sp.org/tlog-cosignature's ``cosigned_message`` structure, without
attestgate code. Run in an environment with dilithium-py (not a dependency of attestgate):

    pip install dilithium-py==1.5.1
    cd tests/vectors/cosignature && python gen_mldsa.py > dilithium_py_subtree_v1.json
"""

import base64
import hashlib
import json
import struct
import sys

from dilithium_py.ml_dsa import ML_DSA_44  # type: ignore[import-not-found]

CASES = [
    # name, cosigner, origin, size, root (base64), timestamp, seed byte
    (
        "sofa",
        "witness.example.com/w1",
        "example.com/behind-the-sofa",
        20852163,
        "CsUYapGGPo4dkMgIAUqom/Xajj7h2fB2MPA3j2jxq2I=",
        1679315147,
        1,
    ),
    (
        "regulator",
        "regulator.example/witness",
        "audit.example/log",
        8,
        "47DEQpj8HBSa+/TImW+5JCeuQeRkm5NMpJWZG3hSuFU=",
        1764892800,
        9,
    ),
]


def main() -> None:
    out = []
    for label, name, origin, size, root_b64, timestamp, seed_byte in CASES:
        seed = bytes((seed_byte + i) % 256 for i in range(32))
        public, secret = ML_DSA_44.key_derive(seed)
        key_id = hashlib.sha256(name.encode() + b"\n" + b"\x06" + public).digest()[:4]
        root = base64.b64decode(root_b64)
        message = (
            b"subtree/v1\n\x00"
            + bytes([len(name)])
            + name.encode()
            + struct.pack(">Q", timestamp)
            + bytes([len(origin)])
            + origin.encode()
            + struct.pack(">QQ", 0, size)
            + root
        )
        signature = ML_DSA_44.sign(secret, message, deterministic=True)
        assert ML_DSA_44.verify(public, message, signature)
        raw = key_id + struct.pack(">Q", timestamp) + signature
        line = f"\u2014 {name} {base64.b64encode(raw).decode()}\n"
        text = f"{origin}\n{size}\n{root_b64}\n"
        out.append(
            {
                "name": label,
                "skey": f"PRIVATE+KEY+{name}+{key_id.hex()}+"
                + base64.b64encode(b"\x06" + seed).decode(),
                "vkey": f"{name}+{key_id.hex()}+" + base64.b64encode(b"\x06" + public).decode(),
                "timestamp": timestamp,
                "checkpoint_text": text,
                "signed_message_hex": message.hex(),
                "cosignature_line": line,
                "cosigned_note": f"{text}\n{line}",
            }
        )
    json.dump(out, sys.stdout, indent=2, ensure_ascii=False)
    sys.stdout.write("\n")


if __name__ == "__main__":
    main()
