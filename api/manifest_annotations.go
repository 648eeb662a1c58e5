package api

import (
	"fmt"
	"maps"
	"slices"
	"strings"
	"time"
)

// Kedge's own settings travel as annotations under "kedge.io/", so a manifest
// stays valid Kubernetes. Every annotation under the prefix must be one of
// these: a typo is an error, never silently ignored. Other annotations are
// free.
const (
	// AnnotationPrefix marks Kedge's annotations.
	AnnotationPrefix = "kedge.io/"
	// AnnotationDisconnectReplace, "true" or "false", says whether the pods
	// of a node cut off from the control plane are replaced elsewhere once it
	// is considered lost (see AnnotationLostAfter).
	AnnotationDisconnectReplace = "kedge.io/disconnect-replace"
	// AnnotationLostAfter, a duration ("90s", "5m"), is how long a node may
	// be unreachable before its pods count as lost.
	AnnotationLostAfter = "kedge.io/lost-after"
	// AnnotationStopAfter, a duration, is how long a node cut off from the
	// control plane keeps running the pods before it stops them itself.
	AnnotationStopAfter = "kedge.io/stop-after"
)

// knownAnnotations lists the Kedge annotations, for messages.
const knownAnnotations = AnnotationDisconnectReplace + ", " + AnnotationLostAfter + ", " + AnnotationStopAfter

// KedgeSettings are the Kedge annotations of an object, parsed. A nil or
// zero field means the annotation is absent and the cluster's default holds.
type KedgeSettings struct {
	DisconnectReplace *bool
	LostAfter         time.Duration
	StopAfter         time.Duration
}

// ParseKedgeAnnotations reads the "kedge.io/" annotations out of annotations.
// An unknown "kedge.io/" key or a malformed value is an error (wrapping
// ErrInvalid) naming the key; all such problems are joined.
func ParseKedgeAnnotations(annotations map[string]string) (KedgeSettings, error) {
	var s KedgeSettings
	var l errList
	for _, k := range slices.Sorted(maps.Keys(annotations)) {
		if err := parseKedgeAnnotation(k, annotations[k], &s); err != nil {
			l.addErr("annotation "+k, err)
		}
	}
	return s, l.join()
}

// validateKedgeAnnotations records a problem for every bad Kedge annotation.
func validateKedgeAnnotations(l *errList, path string, annotations map[string]string) {
	var s KedgeSettings
	for _, k := range slices.Sorted(maps.Keys(annotations)) {
		if err := parseKedgeAnnotation(k, annotations[k], &s); err != nil {
			l.addErr(path+"["+k+"]", err)
		}
	}
}

// parseKedgeAnnotation reads one annotation into s; keys outside
// "kedge.io/" are not Kedge's and pass.
func parseKedgeAnnotation(key, value string, s *KedgeSettings) error {
	if !strings.HasPrefix(key, AnnotationPrefix) {
		return nil
	}
	switch key {
	case AnnotationDisconnectReplace:
		switch value {
		case "true":
			s.DisconnectReplace = ptr(true)
		case "false":
			s.DisconnectReplace = ptr(false)
		default:
			return fmt.Errorf("want \"true\" or \"false\", got %q", value)
		}
	case AnnotationLostAfter, AnnotationStopAfter:
		d, err := time.ParseDuration(value)
		if err != nil || d <= 0 {
			return fmt.Errorf("want a positive duration like \"90s\" or \"5m\", got %q", value)
		}
		if key == AnnotationLostAfter {
			s.LostAfter = d
		} else {
			s.StopAfter = d
		}
	default:
		hint := ""
		best, bestDist := "", 4
		for _, k := range []string{AnnotationDisconnectReplace, AnnotationLostAfter, AnnotationStopAfter} {
			if d := editDistance(key, k, bestDist); d < bestDist {
				best, bestDist = k, d
			}
		}
		if best != "" {
			hint = fmt.Sprintf("did you mean %q? ", best)
		}
		return fmt.Errorf("unknown Kedge annotation (%sknown: %s)", hint, knownAnnotations)
	}
	return nil
}
