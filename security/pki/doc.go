// Package pki is the cluster's public key infrastructure: the cluster CA, node
// and user certificates, join tokens that pin the CA, and the TLS
// configurations that use them.
//
// The flow:
//
//	kedge init                 NewCA -> the CA cert + key are stored (EncryptCA for backups)
//	                           NewToken(ca.Hash()) -> printed; HashSecret(tok.Secret) is stored
//	kedge join ADDR --token T  ParseToken(T) -> FetchCA(ctx, ADDR, tok.CAHash): TLS without normal
//	                           verification, accepted only if the server's chain holds a CA whose
//	                           SubjectPublicKeyInfo hashes to tok.CAHash and that signed the leaf
//	                           NewKey + CreateCSR -> sent with tok.Secret over PinnedClientTLS
//	server                     SecretMatches(stored, secret) -> ca.SignNode(csr, identity decided
//	                           by the server, ...) -> cert + CA cert returned to the joiner
//	every node                 NewIdentity(cert, key, ca) -> ServerTLS / ClientTLS (mutual TLS);
//	                           NeedsRenewal -> new CSR -> SignNode -> Identity.Update, live
//	rejoin after expiry        SignRejoin(old key, id, token id, new CSR) -> VerifyRejoin on the
//	                           leader (chain to the CA, expiry aside) -> the node keeps its id
//
// Words:
//
//   - CA hash: lowercase hex SHA-256 of the CA certificate's DER SubjectPublicKeyInfo, as
//     kubeadm's discovery-token-ca-cert-hash. It survives re-issuing the CA cert with the same key.
//   - Token: KEDGE1-<CA hash>-<id>.<secret>. The id names the token (safe to log), the secret
//     authenticates the joiner and is only ever stored hashed.
//   - Serial: a certificate's serial number as lowercase hex (Serial); the unit of revocation.
//   - Node certificate: CN = node name, URI SAN kedge://node/<id>, server + client auth.
//   - User certificate: CN = user name, URI SAN kedge://user/<name>, client auth only.
//
// Everything here is immutable or guarded by atomics; there is no package-level mutable state.
// Functions that depend on the time take it as an argument (or, for Identity, an injected clock).
package pki
