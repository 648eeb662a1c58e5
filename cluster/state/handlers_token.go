package state

import (
	"crypto/subtle"
	"time"
)

// Handlers for join tokens, API tokens and revoked certificates.

func (w *writer) joinToken(id string) (JoinToken, error) {
	obj := w.get(TableJoinTokens, id)
	if obj == nil {
		return JoinToken{}, errorf(ErrNotFound, "join token %q: not found", id)
	}
	return obj.(*JoinToken).clone(), nil
}

func applyJoinTokenCreate(w *writer, p *JoinTokenCreate) (any, error) {
	t := p.Token.clone()
	t.CreatedAt, t.ExpiresAt = utc(t.CreatedAt), utc(t.ExpiresAt)
	if w.get(TableJoinTokens, t.ID) != nil {
		return nil, errorf(ErrExists, "join token %q: already exists", t.ID)
	}
	return nil, w.put(TableJoinTokens, &t)
}

func applyJoinTokenConsume(w *writer, p *JoinTokenConsume) (any, error) {
	t, err := w.joinToken(p.ID)
	if err != nil {
		return nil, err
	}
	at := utc(p.At)
	switch {
	case subtle.ConstantTimeCompare([]byte(t.SecretHash), []byte(p.SecretHash)) != 1:
		return nil, errorf(ErrTokenMismatch, "join token %q: secret does not match", t.ID)
	case t.Revoked:
		return nil, errorf(ErrTokenRevoked, "join token %q: revoked", t.ID)
	case !t.ExpiresAt.IsZero() && !at.Before(t.ExpiresAt):
		return nil, errorf(ErrTokenExpired, "join token %q: expired at %s (now %s)",
			t.ID, t.ExpiresAt.Format(time.RFC3339), at.Format(time.RFC3339))
	case t.UsesLeft == 0:
		return nil, errorf(ErrTokenUsedUp, "join token %q: used up", t.ID)
	}
	if t.UsesLeft > 0 {
		t.UsesLeft--
		if err := w.put(TableJoinTokens, &t); err != nil {
			return nil, err
		}
	}
	return t.clone(), nil
}

func applyJoinTokenRevoke(w *writer, p *JoinTokenRevoke) (any, error) {
	t, err := w.joinToken(p.ID)
	if err != nil || t.Revoked {
		return nil, err
	}
	t.Revoked = true
	if err := w.put(TableJoinTokens, &t); err != nil {
		return nil, err
	}
	return nil, w.event(p.At, EventJoinTokenRevoked, "jointoken/"+t.ID, "join token "+t.ID+" revoked")
}

func applyJoinTokenDelete(w *writer, p *JoinTokenDelete) (any, error) {
	obj := w.get(TableJoinTokens, p.ID)
	if obj == nil {
		return nil, errorf(ErrNotFound, "join token %q: not found", p.ID)
	}
	return nil, w.del(TableJoinTokens, obj)
}

func applyAPITokenCreate(w *writer, p *APITokenCreate) (any, error) {
	t := p.Token.clone()
	t.CreatedAt = utc(t.CreatedAt)
	if w.get(TableAPITokens, t.ID) != nil {
		return nil, errorf(ErrExists, "api token %q: already exists", t.ID)
	}
	if other, _ := w.txn.First(TableAPITokens, "hash", t.SecretHash); other != nil {
		return nil, errorf(ErrExists, "api token %q: secret hash already used by token %q", t.ID, other.(*APIToken).ID)
	}
	return nil, w.put(TableAPITokens, &t)
}

func applyAPITokenDelete(w *writer, p *APITokenDelete) (any, error) {
	obj := w.get(TableAPITokens, p.ID)
	if obj == nil {
		return nil, errorf(ErrNotFound, "api token %q: not found", p.ID)
	}
	return nil, w.del(TableAPITokens, obj)
}

func applyCertRevoke(w *writer, p *CertRevoke) (any, error) {
	return nil, revokeCert(w, p.Serial, p.NodeID, utc(p.At))
}

// revokeCert records a revoked certificate; an already revoked serial keeps
// its first record.
func revokeCert(w *writer, serial, nodeID string, at time.Time) error {
	if w.get(TableRevoked, serial) != nil {
		return nil
	}
	if err := w.put(TableRevoked, &RevokedCert{Serial: serial, NodeID: nodeID, At: at}); err != nil {
		return err
	}
	return w.event(at, EventCertRevoked, "cert/"+serial, "certificate "+serial+" revoked")
}
