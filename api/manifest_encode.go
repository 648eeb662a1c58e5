package api

import (
	"bytes"
	"encoding/json"
	"fmt"

	"sigs.k8s.io/yaml"
)

// EncodeManifest writes obj as a YAML manifest (what `kedge get -o yaml`
// prints): Kubernetes' field names in alphabetical order, apiVersion and kind
// filled in if the object lacks them. DecodeManifests reads it back to the
// same object, and encoding that again gives the same bytes.
func EncodeManifest(obj Object) ([]byte, error) {
	js, err := json.Marshal(obj)
	if err != nil {
		return nil, fmt.Errorf("encode %s %s: %w", obj.GetKind(), obj.GetObjectMeta().Name, err)
	}
	var m map[string]any
	dec := json.NewDecoder(bytes.NewReader(js))
	dec.UseNumber() // keep 64-bit integers exact
	if err := dec.Decode(&m); err != nil {
		return nil, fmt.Errorf("encode %s %s: %w", obj.GetKind(), obj.GetObjectMeta().Name, err)
	}
	if m["kind"] == nil {
		m["kind"] = obj.GetKind()
	}
	if m["apiVersion"] == nil {
		_, version, _ := NewObject(obj.GetKind())
		m["apiVersion"] = version
	}
	out, err := yaml.Marshal(m)
	if err != nil {
		return nil, fmt.Errorf("encode %s %s: %w", obj.GetKind(), obj.GetObjectMeta().Name, err)
	}
	return out, nil
}

// EncodeManifests writes objects as one multi-document YAML file, documents
// separated by "---" lines.
func EncodeManifests(objs []Object) ([]byte, error) {
	var b bytes.Buffer
	for i, obj := range objs {
		doc, err := EncodeManifest(obj)
		if err != nil {
			return nil, err
		}
		if i > 0 {
			b.WriteString("---\n")
		}
		b.Write(doc)
	}
	return b.Bytes(), nil
}
