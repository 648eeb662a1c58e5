package api

import (
	"maps"
	"slices"
	"strings"
)

// Validation: every kind's Validate checks a defaulted object and reports
// all its problems at once, each a *FieldError with the field's path.

// Limits of names and sizes, as Kubernetes sets them.
const (
	maxDNSLabel       = 63
	maxDNSSubdomain   = 253
	maxAnnotationSize = 256 << 10
	maxConfigSize     = 1 << 20
)

// Messages for the name rules.
const (
	msgDNSLabel     = "must be a DNS label: at most 63 lowercase letters, digits and '-', starting and ending with a letter or digit"
	msgDNSSubdomain = "must be a DNS subdomain: at most 253 characters of DNS labels joined by '.'"
)

// isDNSLabel: 1-63 of [a-z0-9-], starting and ending alphanumeric (RFC 1123).
func isDNSLabel(s string) bool {
	if len(s) == 0 || len(s) > maxDNSLabel {
		return false
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		switch {
		case c >= 'a' && c <= 'z', c >= '0' && c <= '9':
		case c == '-' && i > 0 && i < len(s)-1:
		default:
			return false
		}
	}
	return true
}

// isDNSSubdomain: DNS labels joined by '.', at most 253 characters.
func isDNSSubdomain(s string) bool {
	if len(s) == 0 || len(s) > maxDNSSubdomain {
		return false
	}
	for part := range strings.SplitSeq(s, ".") {
		if !isDNSLabel(part) {
			return false
		}
	}
	return true
}

// isLabelName: 1-63 of [A-Za-z0-9-_.], starting and ending alphanumeric.
func isLabelName(s string) bool {
	if len(s) == 0 || len(s) > maxDNSLabel {
		return false
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		alnum := c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9'
		if !alnum && (i == 0 || i == len(s)-1 || c != '-' && c != '_' && c != '.') {
			return false
		}
	}
	return true
}

// isQualifiedName is a label or annotation key: an optional DNS subdomain
// prefix and '/', then a label name ("app", "kedge.io/lost-after").
func isQualifiedName(s string) bool {
	prefix, name, ok := strings.Cut(s, "/")
	if !ok {
		return isLabelName(s)
	}
	return isDNSSubdomain(prefix) && isLabelName(name)
}

// isLabelValue: empty, or a label name.
func isLabelValue(s string) bool { return s == "" || isLabelName(s) }

// isEnvVarName: [-._a-zA-Z][-._a-zA-Z0-9]*, as Kubernetes has long required.
func isEnvVarName(s string) bool {
	if s == "" {
		return false
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		ok := c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c == '_' || c == '-' || c == '.' ||
			i > 0 && c >= '0' && c <= '9'
		if !ok {
			return false
		}
	}
	return true
}

// isConfigKey is a key of a ConfigMap or Secret: [-._a-zA-Z0-9]+, at most
// 253, not "." and not starting with "..".
func isConfigKey(s string) bool {
	if s == "" || len(s) > maxDNSSubdomain || s == "." || strings.HasPrefix(s, "..") {
		return false
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		if !(c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '-' || c == '_' || c == '.') {
			return false
		}
	}
	return true
}

// isPortName is an IANA service name: 1-15 of [a-z0-9-], at least one
// letter, no leading, trailing or double '-'.
func isPortName(s string) bool {
	if len(s) == 0 || len(s) > 15 || s[0] == '-' || s[len(s)-1] == '-' || strings.Contains(s, "--") {
		return false
	}
	letter := false
	for i := 0; i < len(s); i++ {
		c := s[i]
		switch {
		case c >= 'a' && c <= 'z':
			letter = true
		case c >= '0' && c <= '9', c == '-':
		default:
			return false
		}
	}
	return letter
}

// nameRule says how an object's name is checked.
type nameRule int

const (
	// nameLabel: a DNS label, for objects whose names become host names
	// (namespaces, pods, workloads).
	nameLabel nameRule = iota
	// nameSubdomain: a DNS subdomain, for ConfigMaps, Secrets, quotas.
	nameSubdomain
)

// validateObjectMeta checks an object's name, namespace, labels and
// annotations.
func validateObjectMeta(l *errList, m *ObjectMeta, kind string, rule nameRule) {
	switch {
	case m.Name == "":
		l.add("metadata.name", "required")
	case rule == nameLabel && !isDNSLabel(m.Name):
		l.add("metadata.name", "%q %s", m.Name, msgDNSLabel)
	case rule == nameSubdomain && !isDNSSubdomain(m.Name):
		l.add("metadata.name", "%q %s", m.Name, msgDNSSubdomain)
	}
	switch {
	case !Namespaced(kind) && m.Namespace != "":
		l.add("metadata.namespace", "must be empty: a %s is not in a namespace", kind)
	case Namespaced(kind) && m.Namespace == "":
		l.add("metadata.namespace", "required")
	case Namespaced(kind) && !isDNSLabel(m.Namespace):
		l.add("metadata.namespace", "%q %s", m.Namespace, msgDNSLabel)
	}
	validateLabels(l, "metadata.labels", m.Labels)
	validateAnnotations(l, "metadata.annotations", m.Annotations)
}

// validateTemplateMeta checks a pod template's labels and annotations.
func validateTemplateMeta(l *errList, path string, m *ObjectMeta) {
	if m.Name != "" && !isDNSLabel(m.Name) {
		l.add(path+".name", "%q %s", m.Name, msgDNSLabel)
	}
	validateLabels(l, path+".labels", m.Labels)
	validateAnnotations(l, path+".annotations", m.Annotations)
}

// validateLabels checks label keys and values (also of node selectors).
func validateLabels(l *errList, path string, labels map[string]string) {
	for _, k := range slices.Sorted(maps.Keys(labels)) {
		if !isQualifiedName(k) {
			l.add(path+"["+k+"]", "key %s", msgQualifiedName)
		}
		if v := labels[k]; !isLabelValue(v) {
			l.add(path+"["+k+"]", "value %q %s", truncate(v, 80), msgLabelValue)
		}
	}
}

// Messages for keys and values of labels and annotations.
const (
	msgQualifiedName = "must be a name of at most 63 letters, digits, '-', '_' or '.', starting and ending with a letter or digit, with an optional DNS subdomain prefix and '/'"
	msgLabelValue    = "must be empty or at most 63 letters, digits, '-', '_' or '.', starting and ending with a letter or digit"
)

// validateAnnotations checks annotation keys, the total size, and Kedge's
// own annotations.
func validateAnnotations(l *errList, path string, annotations map[string]string) {
	size := 0
	for _, k := range slices.Sorted(maps.Keys(annotations)) {
		size += len(k) + len(annotations[k])
		if !isQualifiedName(k) {
			l.add(path+"["+k+"]", "key %s", msgQualifiedName)
		}
	}
	if size > maxAnnotationSize {
		l.add(path, "%d bytes in all: at most %d", size, maxAnnotationSize)
	}
	validateKedgeAnnotations(l, path, annotations)
}

// Validate implements Object.
func (o *Namespace) Validate() error {
	var l errList
	validateObjectMeta(&l, &o.ObjectMeta, KindNamespace, nameLabel)
	switch o.Status.Phase {
	case "", "Active", "Terminating":
	default:
		l.add("status.phase", "%q: want Active or Terminating", o.Status.Phase)
	}
	return l.join()
}

// Validate implements Object: every key of spec.hard is one Kedge enforces
// (see QuotaPods ...), and counts are whole numbers.
func (o *ResourceQuota) Validate() error {
	var l errList
	validateObjectMeta(&l, &o.ObjectMeta, KindResourceQuota, nameSubdomain)
	for _, k := range slices.Sorted(maps.Keys(o.Spec.Hard)) {
		path := "spec.hard[" + k + "]"
		switch k {
		case QuotaCPU, QuotaMemory, QuotaRequestsCPU, QuotaRequestsMemory, QuotaLimitsCPU, QuotaLimitsMemory:
		case QuotaPods, QuotaConfigMaps, QuotaSecrets, QuotaDeployments, QuotaDaemonSets:
			if q := o.Spec.Hard[k]; !q.IsWhole() {
				l.add(path, "%s: a count must be a whole number", q)
			}
		default:
			l.add(path, "quota resource not supported by Kedge (supported: %s)", strings.Join([]string{
				QuotaCPU, QuotaMemory, QuotaRequestsCPU, QuotaRequestsMemory, QuotaLimitsCPU,
				QuotaLimitsMemory, QuotaPods, QuotaConfigMaps, QuotaSecrets, QuotaDeployments, QuotaDaemonSets,
			}, ", "))
		}
	}
	return l.join()
}

// Validate implements Object: valid keys, none in both data and binaryData,
// at most 1 MiB in all.
func (o *ConfigMap) Validate() error {
	var l errList
	validateObjectMeta(&l, &o.ObjectMeta, KindConfigMap, nameSubdomain)
	size := 0
	for _, k := range slices.Sorted(maps.Keys(o.Data)) {
		size += len(k) + len(o.Data[k])
		if !isConfigKey(k) {
			l.add("data["+k+"]", "key %s", msgConfigKey)
		}
	}
	for _, k := range slices.Sorted(maps.Keys(o.BinaryData)) {
		size += len(k) + len(o.BinaryData[k])
		if !isConfigKey(k) {
			l.add("binaryData["+k+"]", "key %s", msgConfigKey)
		}
		if _, ok := o.Data[k]; ok {
			l.add("binaryData["+k+"]", "key is also in data")
		}
	}
	if size > maxConfigSize {
		l.add("data", "%d bytes in all: at most %d", size, maxConfigSize)
	}
	return l.join()
}

// msgConfigKey explains a key of a ConfigMap or Secret.
const msgConfigKey = "must be at most 253 letters, digits, '-', '_' or '.', and not start with \"..\""

// Validate implements Object: valid keys, at most 1 MiB in all, and the
// keys that the secret's type requires.
func (o *Secret) Validate() error {
	var l errList
	validateObjectMeta(&l, &o.ObjectMeta, KindSecret, nameSubdomain)
	if o.Type == "" {
		l.add("type", "required")
	}
	size := 0
	for _, k := range slices.Sorted(maps.Keys(o.Data)) {
		size += len(k) + len(o.Data[k])
		if !isConfigKey(k) {
			l.add("data["+k+"]", "key %s", msgConfigKey)
		}
	}
	for _, k := range slices.Sorted(maps.Keys(o.StringData)) {
		size += len(k) + len(o.StringData[k])
		if !isConfigKey(k) {
			l.add("stringData["+k+"]", "key %s", msgConfigKey)
		}
	}
	if size > maxConfigSize {
		l.add("data", "%d bytes in all: at most %d", size, maxConfigSize)
	}
	has := func(k string) bool {
		_, a := o.Data[k]
		_, b := o.StringData[k]
		return a || b
	}
	var required []string
	switch o.Type {
	case SecretTypeTLS:
		required = []string{"tls.crt", "tls.key"}
	case SecretTypeDockerConfigJSON:
		required = []string{".dockerconfigjson"}
	case SecretTypeBasicAuth:
		if !has("username") && !has("password") {
			l.add("data", "a %s secret needs username or password", o.Type)
		}
	}
	for _, k := range required {
		if !has(k) {
			l.add("data["+k+"]", "required by type %s", o.Type)
		}
	}
	return l.join()
}

// validateNonNegative records a negative value of an optional number.
func validateNonNegative[T int32 | int64](l *errList, path string, v *T) {
	if v != nil && *v < 0 {
		l.add(path, "%d: must not be negative", *v)
	}
}

// quoteList prints names for a message: "a, b or c".
func quoteList(names ...string) string {
	switch len(names) {
	case 0:
		return ""
	case 1:
		return names[0]
	}
	return strings.Join(names[:len(names)-1], ", ") + " or " + names[len(names)-1]
}

// oneOf records v when it is not one of allowed.
func oneOf(l *errList, path, v string, allowed ...string) {
	if !slices.Contains(allowed, v) {
		l.add(path, "%q: want %s", v, quoteList(allowed...))
	}
}
