package api

import (
	"errors"
	"fmt"
	"strings"
)

// FieldError is one problem with one field of an object: Field is its path
// from the object's root, as Kubernetes writes it
// ("spec.template.spec.containers[0].livenessProbe", "metadata.labels[app]").
// It wraps ErrInvalid.
type FieldError struct {
	Field  string
	Detail string
}

// Error is "FIELD: DETAIL".
func (e *FieldError) Error() string {
	if e.Field == "" {
		return e.Detail
	}
	return e.Field + ": " + e.Detail
}

// Unwrap makes errors.Is(err, ErrInvalid) hold.
func (e *FieldError) Unwrap() error { return ErrInvalid }

// ManifestError places an error in a manifest file: the document (counted
// from 1, empty and comment-only documents not counted), the line it starts
// on, and the object when known. It wraps the error, usually a *FieldError.
type ManifestError struct {
	Source   string
	Document int
	Line     int
	// Kind, Namespace and Name are empty when the document did not get
	// that far.
	Kind      string
	Namespace string
	Name      string
	Err       error
}

// Error is "document 3 of app.yaml (line 42), Deployment default/web: FIELD: DETAIL".
func (e *ManifestError) Error() string {
	var b strings.Builder
	fmt.Fprintf(&b, "document %d of %s", e.Document, e.Source)
	if e.Line > 0 {
		fmt.Fprintf(&b, " (line %d)", e.Line)
	}
	if e.Kind != "" {
		b.WriteString(", ")
		b.WriteString(e.Kind)
		switch {
		case e.Namespace != "" && e.Name != "":
			b.WriteString(" " + e.Namespace + "/" + e.Name)
		case e.Name != "":
			b.WriteString(" " + e.Name)
		}
	}
	b.WriteString(": ")
	b.WriteString(e.Err.Error())
	return b.String()
}

// Unwrap returns the error placed.
func (e *ManifestError) Unwrap() error { return e.Err }

// errList collects the field errors of one object.
type errList struct {
	errs []error
}

// add records a problem at field.
func (l *errList) add(field, format string, args ...any) {
	l.errs = append(l.errs, &FieldError{Field: field, Detail: fmt.Sprintf(format, args...)})
}

// addErr records err at field, without the ErrInvalid suffix it may carry
// (a FieldError wraps ErrInvalid itself).
func (l *errList) addErr(field string, err error) {
	l.errs = append(l.errs, &FieldError{Field: field, Detail: detailOf(err)})
}

// join is the errors so far, nil if none.
func (l *errList) join() error { return errors.Join(l.errs...) }

// detailOf is err's message without a trailing ": invalid argument".
func detailOf(err error) string {
	return strings.TrimSuffix(err.Error(), ": "+ErrInvalid.Error())
}

// splitJoined flattens an errors.Join into its errors.
func splitJoined(err error) []error {
	if err == nil {
		return nil
	}
	if j, ok := err.(interface{ Unwrap() []error }); ok {
		var out []error
		for _, e := range j.Unwrap() {
			out = append(out, splitJoined(e)...)
		}
		return out
	}
	return []error{err}
}
