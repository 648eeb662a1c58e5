package pki

import (
	"bytes"
	"crypto/aes"
	"crypto/cipher"
	"crypto/pbkdf2"
	"crypto/rand"
	"crypto/sha256"
	"encoding/binary"
	"encoding/pem"
	"errors"
	"fmt"
)

// The CA backup format, inside a PEM block of type pemBackup:
//
//	magic "KCAB" | version 1 | kdf 1 (PBKDF2-HMAC-SHA256) | iterations uint32 BE |
//	salt 16 | nonce 12 | AES-256-GCM(CA cert PEM + key PEM), header as additional data
//
// The header (everything before the ciphertext) is authenticated, so the
// iteration count cannot be lowered without detection.
const (
	pemBackup        = "KEDGE ENCRYPTED CA"
	backupMagic      = "KCAB"
	backupVersion    = 1
	backupKDFPBKDF2  = 1
	backupIterations = 600_000 // OWASP 2023 for PBKDF2-HMAC-SHA256
	// maxBackupIterations bounds the work a crafted backup can demand.
	maxBackupIterations = 10_000_000
	backupSaltLen       = 16
	backupNonceLen      = 12
	backupHeaderLen     = len(backupMagic) + 1 + 1 + 4 + backupSaltLen + backupNonceLen
)

// EncryptCA encrypts the CA certificate and key under passphrase for an
// off-machine backup (PBKDF2-SHA256, 600k iterations, AES-256-GCM; a
// versioned header). The result is PEM text, safe to paste or print.
func EncryptCA(ca *CA, passphrase []byte) ([]byte, error) {
	if len(passphrase) == 0 {
		return nil, errors.New("encrypt CA backup: empty passphrase")
	}
	keyPEM, err := ca.KeyPEM()
	if err != nil {
		return nil, fmt.Errorf("encrypt CA backup: %w", err)
	}
	header := make([]byte, 0, backupHeaderLen)
	header = append(header, backupMagic...)
	header = append(header, backupVersion, backupKDFPBKDF2)
	header = binary.BigEndian.AppendUint32(header, backupIterations)
	random := make([]byte, backupSaltLen+backupNonceLen)
	if _, err := rand.Read(random); err != nil {
		return nil, fmt.Errorf("encrypt CA backup: read random bytes: %w", err)
	}
	header = append(header, random...)
	aead, err := backupAEAD(passphrase, header)
	if err != nil {
		return nil, fmt.Errorf("encrypt CA backup: %w", err)
	}
	plain := append(ca.CertPEM(), keyPEM...)
	nonce := header[backupHeaderLen-backupNonceLen:]
	blob := append(header, aead.Seal(nil, nonce, plain, header)...)
	return pem.EncodeToMemory(&pem.Block{Type: pemBackup, Bytes: blob}), nil
}

// DecryptCA reverses EncryptCA. A wrong passphrase (or an altered backup)
// wraps ErrWrongPassphrase.
func DecryptCA(blob, passphrase []byte) (*CA, error) {
	block, err := findPEM(blob, pemBackup)
	if err != nil {
		return nil, fmt.Errorf("decrypt CA backup: not a kedge CA backup: %w", err)
	}
	data := block.Bytes
	if len(data) < backupHeaderLen || !bytes.HasPrefix(data, []byte(backupMagic)) {
		return nil, errors.New("decrypt CA backup: not a kedge CA backup (bad header)")
	}
	if v := data[len(backupMagic)]; v != backupVersion {
		return nil, fmt.Errorf("decrypt CA backup: format version %d is not supported (this kedge reads version %d)", v, backupVersion)
	}
	if kdf := data[len(backupMagic)+1]; kdf != backupKDFPBKDF2 {
		return nil, fmt.Errorf("decrypt CA backup: unknown key derivation %d", kdf)
	}
	header := data[:backupHeaderLen]
	aead, err := backupAEAD(passphrase, header)
	if err != nil {
		return nil, fmt.Errorf("decrypt CA backup: %w", err)
	}
	nonce := header[backupHeaderLen-backupNonceLen:]
	plain, err := aead.Open(nil, nonce, data[backupHeaderLen:], header)
	if err != nil {
		return nil, fmt.Errorf("decrypt CA backup: %w", ErrWrongPassphrase)
	}
	ca, err := ParseCA(plain, plain)
	if err != nil {
		return nil, fmt.Errorf("decrypt CA backup: %w", err)
	}
	return ca, nil
}

// backupAEAD derives the AES-256-GCM cipher from passphrase and the header's
// iteration count and salt.
func backupAEAD(passphrase, header []byte) (cipher.AEAD, error) {
	if len(passphrase) == 0 {
		return nil, errors.New("empty passphrase")
	}
	iter := binary.BigEndian.Uint32(header[len(backupMagic)+2:])
	if iter < backupIterations || iter > maxBackupIterations {
		return nil, fmt.Errorf("iteration count %d outside [%d, %d]", iter, backupIterations, maxBackupIterations)
	}
	salt := header[len(backupMagic)+6 : len(backupMagic)+6+backupSaltLen]
	key, err := pbkdf2.Key(sha256.New, string(passphrase), salt, int(iter), 32)
	if err != nil {
		return nil, fmt.Errorf("derive key: %w", err)
	}
	block, err := aes.NewCipher(key)
	if err != nil {
		return nil, fmt.Errorf("AES: %w", err)
	}
	aead, err := cipher.NewGCM(block)
	if err != nil {
		return nil, fmt.Errorf("GCM: %w", err)
	}
	return aead, nil
}
