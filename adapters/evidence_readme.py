"""The README inside every evidence bundle: how to check one by hand."""

README = """\
# Evidence bundle of one verification

This zip holds every event the ledger recorded for one verification (`scanRef`), each
with a proof that it is in the ledger's Merkle tree (RFC 9162) whose head a signed
checkpoint names. `ledger verify-bundle FILE.zip --key VERIFIER` checks all of it with
no database; what follows is how to check it by hand.

- `checkpoint.txt`: a C2SP signed note. Its text is three lines, the log's name, the
  tree size and the base64 root hash; after a blank line, a signature line
  `\u2014 <name> <base64(4-byte key hash || 64-byte Ed25519 signature)>` over the text.
- `verifier.txt`: the verifier key, `<name>+<hex key hash>+<base64(0x01 || public key)>`.
  Compare it with the key the ledger's operator published; a bundle can name any key.
- `events.json`: `scanRef`, and per event its `sequence`, ledger `position`, `record`
  (the exact bytes its hash was taken over), `hash`, and `inclusion` (`leafIndex`,
  `treeSize`, `hashes`, hex).
- `payloads/<sequence>.bin`: the payload as received, when the event has one and it
  was not erased; `erasedPayloads` in `events.json` lists the sequences whose payloads
  were erased (their hashes and proofs still check; only the bytes are gone).

## Checking by hand

1. The signature: with Go's `golang.org/x/mod/sumdb/note`, `note.Open` of
   `checkpoint.txt` with `note.NewVerifier` of `verifier.txt`; or, in Python with the
   `cryptography` package, Ed25519-verify the 64 bytes after the first 4 of the
   decoded signature over the note's text (up to and including the newline before
   the blank line) with the 32 bytes after the first of the verifier key's base64.
   The key hash is the first 4 bytes of SHA-256(name || 0x0A || 0x01 || public key).
2. Each event's hash: SHA-256 of its `record` (ASCII) is its `hash`. The record's
   `prev_hash` is the previous event's `hash` (null for sequence 1), its
   `originator_version` is the sequence, and its `payload_sha256` is the SHA-256 of
   `payloads/<sequence>.bin`.
3. Each event's place in the tree: the leaf hash is SHA-256(0x00 || the 32 bytes of
   `hash`). Fold `inclusion.hashes` into it as RFC 9162 section 2.1.3.2 says: with
   fn = leafIndex and sn = treeSize - 1, for each hash h, if fn is odd or fn == sn,
   r = SHA-256(0x01 || h || r) and, while fn is even and not 0, halve fn and sn;
   otherwise r = SHA-256(0x01 || r || h); then halve fn and sn. At the end sn is 0 and
   r is the checkpoint's root hash (base64-decoded), for the checkpoint's tree size.

The zip itself is written one way (stored entries, fixed times, sorted-key JSON with
one space of indent), so `ledger verify-bundle` also refuses a bundle whose bytes
differ from that form, for any change anywhere in the file.
"""
