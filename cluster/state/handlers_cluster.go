package state

import (
	"bytes"
	"time"
)

// Handlers for the cluster record and free-form events.

func applyClusterInit(w *writer, p *ClusterInit) (any, error) {
	c := p.Cluster.clone()
	c.CreatedAt = c.CreatedAt.UTC()
	c.SchemaVersion = SchemaVersion
	if old, _ := w.txn.First(TableCluster, "id"); old != nil {
		o := old.(*Cluster)
		if o.ID == c.ID && o.CACertPEM == c.CACertPEM && bytes.Equal(o.GossipKey, c.GossipKey) {
			return o.clone(), nil
		}
		return nil, errorf(ErrExists, "cluster %q already exists (this is cluster %q)", c.ID, o.ID)
	}
	if err := w.put(TableCluster, &c); err != nil {
		return nil, err
	}
	if err := w.event(c.CreatedAt, EventClusterCreated, "cluster/"+c.ID, "cluster "+c.ID+" created"); err != nil {
		return nil, err
	}
	return c.clone(), nil
}

func applyClusterGossipKey(w *writer, p *ClusterGossipKey) (any, error) {
	old, _ := w.txn.First(TableCluster, "id")
	if old == nil {
		return nil, errorf(ErrNotFound, "cluster: not initialised")
	}
	c := old.(*Cluster).clone()
	c.GossipKey = append([]byte(nil), p.Key...)
	if err := w.put(TableCluster, &c); err != nil {
		return nil, err
	}
	return nil, w.event(p.At, EventGossipKeyRotated, "cluster/"+c.ID, "gossip key replaced")
}

func applyEventRecord(w *writer, p *EventRecord) (any, error) {
	return nil, w.event(p.At, p.Kind, p.Object, p.Message)
}

// utc normalises a command time for storage.
func utc(t time.Time) time.Time { return t.UTC() }
