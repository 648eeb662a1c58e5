package consensus

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"io"

	"github.com/hashicorp/raft"
)

// A user snapshot (kedge snapshot save|restore) is a stream of:
//
//	magic   8 bytes   "KRSNAP01"
//	length  4 bytes   big-endian length of meta
//	meta    JSON      raft.SnapshotMeta (index, term, configuration, Size)
//	data    Size bytes the FSM snapshot, as the FSM persisted it
//	sum     32 bytes  SHA-256 of meta and data
const (
	snapshotMagic   = "KRSNAP01"
	maxSnapshotMeta = 1 << 20
)

// SaveSnapshot writes a snapshot of the FSM to w. It takes a new Raft
// snapshot (a node whose FSM has applied nothing since it started writes
// its latest stored one instead). It works on any node; a follower's
// snapshot may lag the leader's state by the entries it has not applied.
func (n *Node) SaveSnapshot(ctx context.Context, w io.Writer) error {
	meta, rc, err := n.openSnapshot(ctx)
	if err != nil {
		return err
	}
	defer func() { _ = rc.Close() }()

	metaJSON, err := json.Marshal(meta)
	if err != nil {
		return fmt.Errorf("save raft snapshot: encode metadata: %w", err)
	}
	var hdr bytes.Buffer
	hdr.WriteString(snapshotMagic)
	_ = binary.Write(&hdr, binary.BigEndian, uint32(len(metaJSON)))
	hdr.Write(metaJSON)
	if _, err := w.Write(hdr.Bytes()); err != nil {
		return fmt.Errorf("save raft snapshot: write header: %w", err)
	}
	sum := sha256.New()
	sum.Write(metaJSON)
	copied, err := io.Copy(io.MultiWriter(w, sum), ctxReader{ctx: ctx, r: rc})
	if err != nil {
		return fmt.Errorf("save raft snapshot %s: %w", meta.ID, err)
	}
	if copied != meta.Size {
		return fmt.Errorf("save raft snapshot %s: read %d bytes, want %d", meta.ID, copied, meta.Size)
	}
	if _, err := w.Write(sum.Sum(nil)); err != nil {
		return fmt.Errorf("save raft snapshot: write checksum: %w", err)
	}
	return nil
}

// openSnapshot takes a snapshot, or opens the latest one if nothing is new.
func (n *Node) openSnapshot(ctx context.Context) (*raft.SnapshotMeta, io.ReadCloser, error) {
	f := n.raft.Snapshot()
	err := n.await(ctx, f)
	if errors.Is(err, raft.ErrNothingNewToSnapshot) {
		list, lerr := n.store.snaps.List()
		if lerr != nil {
			return nil, nil, fmt.Errorf("save raft snapshot: list snapshots: %w", lerr)
		}
		if len(list) == 0 {
			return nil, nil, fmt.Errorf("save raft snapshot: %w", err)
		}
		meta, rc, oerr := n.store.snaps.Open(list[0].ID)
		if oerr != nil {
			return nil, nil, fmt.Errorf("save raft snapshot: open %s: %w", list[0].ID, oerr)
		}
		return meta, rc, nil
	}
	if err != nil {
		return nil, nil, n.wrapErr("save raft snapshot", err)
	}
	meta, rc, err := f.Open()
	if err != nil {
		return nil, nil, fmt.Errorf("save raft snapshot: open: %w", err)
	}
	return meta, rc, nil
}

// RestoreSnapshot replaces the cluster's state with a snapshot written by
// SaveSnapshot: the leader installs it and the followers receive it. The
// Raft configuration (the members) is kept, not taken from the snapshot.
// The input is verified while it is copied into a new local snapshot and
// before the FSM is touched: invalid input returns ErrBadSnapshot and
// changes nothing. Leader only; meant for disaster recovery, as commands in
// flight are aborted.
func (n *Node) RestoreSnapshot(ctx context.Context, r io.Reader) error {
	if !n.IsLeader() {
		return n.wrapErr("restore raft snapshot", raft.ErrNotLeader)
	}
	var hdr [len(snapshotMagic) + 4]byte
	if _, err := io.ReadFull(r, hdr[:]); err != nil {
		return fmt.Errorf("restore raft snapshot: read header: %w: %w", ErrBadSnapshot, err)
	}
	if string(hdr[:len(snapshotMagic)]) != snapshotMagic {
		return fmt.Errorf("restore raft snapshot: %w: not a kedge raft snapshot", ErrBadSnapshot)
	}
	size := binary.BigEndian.Uint32(hdr[len(snapshotMagic):])
	if size == 0 || size > maxSnapshotMeta {
		return fmt.Errorf("restore raft snapshot: %w: metadata of %d bytes", ErrBadSnapshot, size)
	}
	metaJSON := make([]byte, size)
	if _, err := io.ReadFull(r, metaJSON); err != nil {
		return fmt.Errorf("restore raft snapshot: read metadata: %w: %w", ErrBadSnapshot, err)
	}
	var meta raft.SnapshotMeta
	if err := json.Unmarshal(metaJSON, &meta); err != nil {
		return fmt.Errorf("restore raft snapshot: decode metadata: %w: %w", ErrBadSnapshot, err)
	}
	if meta.Size < 0 {
		return fmt.Errorf("restore raft snapshot: %w: negative size", ErrBadSnapshot)
	}
	v := &verifyingReader{r: r, remaining: meta.Size, sum: sha256.New()}
	v.sum.Write(metaJSON)
	err := n.raft.Restore(&meta, ctxReader{ctx: ctx, r: v}, enqueueTimeout(ctx))
	switch {
	case v.err != nil: // raft flattens its reader's errors; report ours
		return fmt.Errorf("restore raft snapshot: %w", v.err)
	case err != nil && ctx.Err() != nil:
		return fmt.Errorf("restore raft snapshot: %w", ctx.Err())
	case err != nil:
		return n.wrapErr("restore raft snapshot", err)
	}
	n.log.Info("restored raft snapshot", "snapshot", meta.ID, "bytes", meta.Size)
	return nil
}

// verifyingReader yields the snapshot's data and, instead of the final
// io.EOF, an ErrBadSnapshot error when the data is short or its checksum
// does not match.
type verifyingReader struct {
	r         io.Reader
	remaining int64
	sum       interface {
		io.Writer
		Sum([]byte) []byte
	}
	done bool
	err  error
}

func (v *verifyingReader) Read(p []byte) (int, error) {
	if v.err != nil {
		return 0, v.err
	}
	if v.remaining > 0 {
		if int64(len(p)) > v.remaining {
			p = p[:v.remaining]
		}
		k, err := v.r.Read(p)
		v.sum.Write(p[:k])
		v.remaining -= int64(k)
		if errors.Is(err, io.EOF) && v.remaining > 0 {
			v.err = fmt.Errorf("%w: truncated data", ErrBadSnapshot)
			return k, v.err
		}
		if err != nil && !errors.Is(err, io.EOF) {
			v.err = fmt.Errorf("read snapshot data: %w", err)
			return k, v.err
		}
		return k, nil
	}
	if !v.done {
		v.done = true
		var want [sha256.Size]byte
		if _, err := io.ReadFull(v.r, want[:]); err != nil {
			v.err = fmt.Errorf("%w: missing checksum", ErrBadSnapshot)
			return 0, v.err
		}
		if !bytes.Equal(want[:], v.sum.Sum(nil)) {
			v.err = fmt.Errorf("%w: checksum mismatch", ErrBadSnapshot)
			return 0, v.err
		}
	}
	return 0, io.EOF
}

// ctxReader stops reading once ctx ends.
type ctxReader struct {
	ctx context.Context
	r   io.Reader
}

func (c ctxReader) Read(p []byte) (int, error) {
	if err := c.ctx.Err(); err != nil {
		return 0, err
	}
	return c.r.Read(p)
}
