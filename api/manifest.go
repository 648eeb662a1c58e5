package api

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"reflect"
	"strconv"
	"strings"

	"sigs.k8s.io/yaml"
)

// maxManifestErrors bounds the errors one DecodeManifests reports.
const maxManifestErrors = 100

// DecodeManifests decodes a manifest file: Kubernetes-shaped YAML (or JSON),
// several documents separated by "---" lines, empty and comment-only
// documents skipped. Each document must carry apiVersion and kind: "v1" for
// Namespace, ResourceQuota, ConfigMap, Secret and Pod, "apps/v1" for
// Deployment and DaemonSet.
//
// Decoding is strict: an unknown field, or a Kubernetes field Kedge does not
// support (affinity, volumes[].persistentVolumeClaim ...), is an error naming
// its path (spec.template.spec.containers[0].livenessProbe.grpc), as is a
// value of the wrong type. Each object is then defaulted (Object.Default)
// and validated (Object.Validate); the same object twice in one file is an
// error too.
//
// It returns every object, or nil and every problem of every document at
// once (up to 100): an errors.Join of *ManifestError, which name source, the
// document and its line, and the object, and wrap ErrInvalid. A status in the
// manifest is decoded as written; the API ignores it when applying.
func DecodeManifests(data []byte, source string) ([]Object, error) {
	if source == "" {
		source = "manifest"
	}
	d := newStrictDecoder()
	var objs []Object
	var errs []error
	seen := make(map[string]int)
	for i, doc := range splitDocuments(data) {
		n := i + 1
		obj, where, docErrs := d.decodeDocument(doc)
		where.Source, where.Document, where.Line = source, n, doc.line
		if obj != nil && len(docErrs) == 0 {
			key := obj.GetKind() + "/" + where.Namespace + "/" + where.Name
			if first, ok := seen[key]; ok {
				docErrs = append(docErrs, &FieldError{Detail: fmt.Sprintf("the same object as document %d", first)})
			}
			seen[key] = n
		}
		for _, err := range docErrs {
			e := where
			e.Err = err
			errs = append(errs, &e)
		}
		if len(errs) > maxManifestErrors {
			errs = append(errs[:maxManifestErrors], fmt.Errorf("%s: too many errors, stopped at document %d: %w", source, n, ErrInvalid))
			break
		}
		if obj != nil {
			objs = append(objs, obj)
		}
	}
	if len(errs) > 0 {
		return nil, errors.Join(errs...)
	}
	return objs, nil
}

// decodeDocument decodes, defaults and validates one document. where holds
// what is known of the object, for the caller to place the errors.
func (d *strictDecoder) decodeDocument(doc document) (obj Object, where ManifestError, errs []error) {
	invalid := func(format string, args ...any) []error {
		return []error{&FieldError{Detail: fmt.Sprintf(format, args...)}}
	}
	js, err := yaml.YAMLToJSONStrict(doc.text)
	if err != nil {
		return nil, where, invalid("invalid YAML: %s", yamlMessage(err, doc.start))
	}
	dec := json.NewDecoder(bytes.NewReader(js))
	dec.UseNumber()
	var generic any
	if err := dec.Decode(&generic); err != nil {
		return nil, where, invalid("invalid YAML: %v", err)
	}
	m, ok := generic.(map[string]any)
	if !ok {
		return nil, where, invalid("want an object with apiVersion, kind, metadata and spec, got %s", describe(generic))
	}
	if md, ok := m["metadata"].(map[string]any); ok {
		where.Name, _ = md["name"].(string)
		where.Namespace, _ = md["namespace"].(string)
	}
	kind, ok := m["kind"].(string)
	if !ok || kind == "" {
		return nil, where, invalid("kind is required")
	}
	obj, wantVersion, ok := NewObject(kind)
	if !ok {
		return nil, where, invalid("kind %s is not supported yet (Kedge supports %s)", kind, supportedKinds)
	}
	where.Kind = kind
	switch version, _ := m["apiVersion"].(string); version {
	case wantVersion:
	case "":
		return nil, where, invalid("apiVersion is required (%s for %s)", wantVersion, kind)
	default:
		return nil, where, invalid("apiVersion %s for %s: want %s", version, kind, wantVersion)
	}

	d.errs = errList{}
	d.decode("", m, reflect.ValueOf(obj).Elem(), false)
	if len(d.errs.errs) > 0 {
		return nil, where, d.errs.errs
	}
	obj.Default()
	meta := obj.GetObjectMeta()
	where.Namespace, where.Name = meta.Namespace, meta.Name
	if errs := splitJoined(obj.Validate()); len(errs) > 0 {
		return nil, where, errs
	}
	return obj, where, nil
}

// supportedKinds lists the kinds for messages.
const supportedKinds = KindNamespace + ", " + KindResourceQuota + ", " + KindConfigMap + ", " +
	KindSecret + ", " + KindPod + ", " + KindDeployment + " and " + KindDaemonSet

// document is one YAML document of a manifest file: its text, the file line
// its text starts on, and the line of its first content.
type document struct {
	text  []byte
	start int
	line  int
}

// splitDocuments cuts a file at "---" (and "...") lines, dropping documents
// with nothing but blank lines, comments and directives.
func splitDocuments(data []byte) []document {
	data = bytes.TrimPrefix(data, []byte("\xef\xbb\xbf"))
	var docs []document
	cur := document{start: 1}
	var text bytes.Buffer
	flush := func() {
		if cur.line > 0 {
			cur.text = bytes.Clone(text.Bytes())
			docs = append(docs, cur)
		}
		text.Reset()
	}
	lineNo := 0
	for len(data) > 0 {
		lineNo++
		line := data
		if i := bytes.IndexByte(data, '\n'); i >= 0 {
			line, data = data[:i+1], data[i+1:]
		} else {
			data = nil
		}
		bare := bytes.TrimRight(line, "\r\n")
		if isSeparator(bare) {
			flush()
			cur = document{start: lineNo + 1}
			rest := bytes.TrimSpace(bare[3:])
			if bytes.HasPrefix(bare, []byte("---")) && len(rest) > 0 && rest[0] != '#' {
				// Content after "--- " belongs to the new document.
				cur.start, cur.line = lineNo, lineNo
				text.Write(rest)
				text.WriteByte('\n')
			}
			continue
		}
		text.Write(line)
		if cur.line == 0 {
			if t := bytes.TrimSpace(bare); len(t) > 0 && t[0] != '#' && t[0] != '%' {
				cur.line = lineNo
			}
		}
	}
	flush()
	return docs
}

// isSeparator reports a document marker line: "---" or "...", alone or
// followed by white space.
func isSeparator(line []byte) bool {
	if !bytes.HasPrefix(line, []byte("---")) && !bytes.HasPrefix(line, []byte("...")) {
		return false
	}
	return len(line) == 3 || line[3] == ' ' || line[3] == '\t'
}

// yamlMessage is a YAML parser's error with its line numbers made relative
// to the file rather than the document.
func yamlMessage(err error, start int) string {
	msg := strings.TrimPrefix(err.Error(), "error converting YAML to JSON: ")
	msg = strings.TrimPrefix(msg, "yaml: ")
	msg = strings.ReplaceAll(msg, ":\n  ", ": ")
	msg = strings.ReplaceAll(msg, "\n  ", "; ")
	var b strings.Builder
	for {
		i := strings.Index(msg, "line ")
		if i < 0 {
			break
		}
		j := i + len("line ")
		k := j
		for k < len(msg) && msg[k] >= '0' && msg[k] <= '9' {
			k++
		}
		b.WriteString(msg[:j])
		if n, err := strconv.Atoi(msg[j:k]); err == nil {
			b.WriteString(strconv.Itoa(n + start - 1))
		} else {
			b.WriteString(msg[j:k])
		}
		msg = msg[k:]
	}
	b.WriteString(msg)
	return b.String()
}
