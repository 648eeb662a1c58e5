package api

import (
	"encoding/base64"
	"encoding/json"
	"fmt"
	"maps"
	"reflect"
	"slices"
	"strconv"
	"strings"
	"time"
)

// strictDecoder fills Go values from generic JSON (maps, lists, strings,
// json.Number, booleans, nil, as encoding/json decodes into any with
// UseNumber) and records every problem with its field path: unknown fields
// (case-sensitively, as Kubernetes' strict decoding), wrong types, bad
// quantities. It honours the json tags of the object model: names, inline
// embedded structs, and the ",string" option. One decoder serves one
// DecodeManifests call; its cache of struct fields is not shared.
type strictDecoder struct {
	structs map[reflect.Type]map[string]fieldInfo
	errs    errList
}

// fieldInfo is one JSON field of a struct.
type fieldInfo struct {
	index    []int
	asString bool
}

// Types the decoder reads itself rather than through their UnmarshalJSON, for
// clearer messages.
var (
	typeTime        = reflect.TypeFor[time.Time]()
	typeQuantity    = reflect.TypeFor[Quantity]()
	typeIntOrString = reflect.TypeFor[IntOrString]()
	typeUnmarshaler = reflect.TypeFor[json.Unmarshaler]()
)

func newStrictDecoder() *strictDecoder {
	return &strictDecoder{structs: make(map[reflect.Type]map[string]fieldInfo)}
}

// fields is the JSON fields of struct type t by name, embedded structs
// without a name flattened in.
func (d *strictDecoder) fields(t reflect.Type) map[string]fieldInfo {
	if f, ok := d.structs[t]; ok {
		return f
	}
	out := make(map[string]fieldInfo)
	d.structs[t] = out
	for i := range t.NumField() {
		sf := t.Field(i)
		tag := sf.Tag.Get("json")
		if tag == "-" {
			continue
		}
		name, opts, _ := strings.Cut(tag, ",")
		if sf.Anonymous && name == "" && sf.Type.Kind() == reflect.Struct {
			for n, f := range d.fields(sf.Type) {
				out[n] = fieldInfo{index: append([]int{i}, f.index...), asString: f.asString}
			}
			continue
		}
		if !sf.IsExported() {
			continue
		}
		if name == "" {
			name = sf.Name
		}
		out[name] = fieldInfo{index: []int{i}, asString: slices.Contains(strings.Split(opts, ","), "string")}
	}
	return out
}

// describe names the JSON type of a generic value for messages.
func describe(in any) string {
	switch v := in.(type) {
	case map[string]any:
		return "an object"
	case []any:
		return "a list"
	case string:
		return fmt.Sprintf("string %q", truncate(v, 40))
	case json.Number:
		return "number " + truncate(v.String(), 40)
	case bool:
		return "boolean " + strconv.FormatBool(v)
	}
	return fmt.Sprintf("%T", in)
}

// truncate cuts s to n bytes for a message.
func truncate(s string, n int) string {
	if len(s) <= n {
		return s
	}
	return s[:n] + "..."
}

// joinPath appends a field name to a path.
func joinPath(path, name string) string {
	if path == "" {
		return name
	}
	return path + "." + name
}

// decode stores in into v (settable), recording problems under path.
func (d *strictDecoder) decode(path string, in any, v reflect.Value, asString bool) {
	if in == nil {
		switch v.Kind() {
		case reflect.Pointer, reflect.Map, reflect.Slice, reflect.Interface:
			v.SetZero()
		}
		return // null leaves a scalar or struct as it is, as encoding/json does
	}
	if v.Kind() == reflect.Pointer {
		if v.IsNil() {
			v.Set(reflect.New(v.Type().Elem()))
		}
		d.decode(path, in, v.Elem(), asString)
		return
	}
	switch v.Type() {
	case typeTime:
		d.decodeTime(path, in, v)
		return
	case typeQuantity:
		d.decodeQuantity(path, in, v)
		return
	case typeIntOrString:
		d.decodeIntOrString(path, in, v)
		return
	}
	if v.CanAddr() && v.Addr().Type().Implements(typeUnmarshaler) {
		raw, err := json.Marshal(in)
		if err == nil {
			err = v.Addr().Interface().(json.Unmarshaler).UnmarshalJSON(raw)
		}
		if err != nil {
			d.errs.addErr(path, err)
		}
		return
	}
	switch v.Kind() {
	case reflect.Struct:
		d.decodeStruct(path, in, v)
	case reflect.Map:
		d.decodeMap(path, in, v)
	case reflect.Slice:
		d.decodeSlice(path, in, v)
	case reflect.String:
		if s, ok := in.(string); ok {
			v.SetString(s)
			return
		}
		hint := ""
		if _, ok := in.(map[string]any); !ok {
			if _, ok := in.([]any); !ok {
				hint = " (quote it)"
			}
		}
		d.errs.add(path, "want a string, got %s%s", describe(in), hint)
	case reflect.Bool:
		if b, ok := in.(bool); ok {
			v.SetBool(b)
			return
		}
		d.errs.add(path, "want true or false, got %s", describe(in))
	case reflect.Int, reflect.Int8, reflect.Int16, reflect.Int32, reflect.Int64:
		s, ok := numberText(in, asString)
		n, err := strconv.ParseInt(s, 10, v.Type().Bits())
		if !ok || err != nil {
			d.errs.add(path, "want a whole number%s, got %s", rangeOf(v.Type()), describe(in))
			return
		}
		v.SetInt(n)
	case reflect.Uint, reflect.Uint8, reflect.Uint16, reflect.Uint32, reflect.Uint64:
		s, ok := numberText(in, asString)
		n, err := strconv.ParseUint(s, 10, v.Type().Bits())
		if !ok || err != nil {
			d.errs.add(path, "want a whole number%s, got %s", rangeOf(v.Type()), describe(in))
			return
		}
		v.SetUint(n)
	case reflect.Float32, reflect.Float64:
		s, ok := numberText(in, asString)
		f, err := strconv.ParseFloat(s, v.Type().Bits())
		if !ok || err != nil {
			d.errs.add(path, "want a number, got %s", describe(in))
			return
		}
		v.SetFloat(f)
	case reflect.Interface:
		if v.NumMethod() == 0 {
			v.Set(reflect.ValueOf(in))
			return
		}
		d.errs.add(path, "cannot decode into %s", v.Type())
	default:
		d.errs.add(path, "cannot decode into %s", v.Type())
	}
}

// numberText is the text of a JSON number, or of a string when the field
// has the ",string" option (which Kubernetes uses for resourceVersion).
func numberText(in any, asString bool) (string, bool) {
	switch v := in.(type) {
	case json.Number:
		return v.String(), true
	case string:
		return v, asString
	}
	return "", false
}

// rangeOf is the range of an integer type for messages.
func rangeOf(t reflect.Type) string {
	switch t.Kind() {
	case reflect.Int32:
		return " (32-bit)"
	case reflect.Uint, reflect.Uint8, reflect.Uint16, reflect.Uint32, reflect.Uint64:
		return " (not negative)"
	}
	return ""
}

func (d *strictDecoder) decodeStruct(path string, in any, v reflect.Value) {
	m, ok := in.(map[string]any)
	if !ok {
		d.errs.add(path, "want an object, got %s", describe(in))
		return
	}
	fields := d.fields(v.Type())
	for _, key := range slices.Sorted(maps.Keys(m)) {
		f, ok := fields[key]
		if !ok {
			d.errs.add(joinPath(path, key), "%s", unknownField(key, fields))
			continue
		}
		d.decode(joinPath(path, key), m[key], v.FieldByIndex(f.index), f.asString)
	}
}

func (d *strictDecoder) decodeMap(path string, in any, v reflect.Value) {
	m, ok := in.(map[string]any)
	if !ok {
		d.errs.add(path, "want an object, got %s", describe(in))
		return
	}
	if v.Type().Key().Kind() != reflect.String {
		d.errs.add(path, "cannot decode into %s", v.Type())
		return
	}
	if v.IsNil() {
		v.Set(reflect.MakeMapWithSize(v.Type(), len(m)))
	}
	for _, key := range slices.Sorted(maps.Keys(m)) {
		elem := reflect.New(v.Type().Elem()).Elem()
		d.decode(path+"["+key+"]", m[key], elem, false)
		v.SetMapIndex(reflect.ValueOf(key).Convert(v.Type().Key()), elem)
	}
}

func (d *strictDecoder) decodeSlice(path string, in any, v reflect.Value) {
	if v.Type().Elem().Kind() == reflect.Uint8 {
		s, ok := in.(string)
		if !ok {
			d.errs.add(path, "want base64 text, got %s", describe(in))
			return
		}
		b, err := base64.StdEncoding.DecodeString(s)
		if err != nil {
			d.errs.add(path, "invalid base64: %v", err)
			return
		}
		v.SetBytes(b)
		return
	}
	list, ok := in.([]any)
	if !ok {
		d.errs.add(path, "want a list, got %s", describe(in))
		return
	}
	out := reflect.MakeSlice(v.Type(), len(list), len(list))
	for i, item := range list {
		d.decode(path+"["+strconv.Itoa(i)+"]", item, out.Index(i), false)
	}
	v.Set(out)
}

func (d *strictDecoder) decodeTime(path string, in any, v reflect.Value) {
	s, ok := in.(string)
	if !ok {
		d.errs.add(path, "want a time like \"2024-05-01T12:00:00Z\", got %s", describe(in))
		return
	}
	t, err := time.Parse(time.RFC3339Nano, s)
	if err != nil {
		d.errs.add(path, "want a time like \"2024-05-01T12:00:00Z\", got %s", describe(in))
		return
	}
	v.Set(reflect.ValueOf(t))
}

func (d *strictDecoder) decodeQuantity(path string, in any, v reflect.Value) {
	s, ok := numberText(in, true)
	if !ok {
		d.errs.add(path, "want a quantity like \"500m\" or \"128Mi\", got %s", describe(in))
		return
	}
	q, err := ParseQuantity(s)
	if err != nil {
		d.errs.addErr(path, err)
		return
	}
	v.Set(reflect.ValueOf(q))
}

func (d *strictDecoder) decodeIntOrString(path string, in any, v reflect.Value) {
	switch x := in.(type) {
	case string:
		v.Set(reflect.ValueOf(FromString(x)))
		return
	case json.Number:
		if n, err := strconv.ParseInt(x.String(), 10, 32); err == nil {
			v.Set(reflect.ValueOf(FromInt(int32(n))))
			return
		}
	}
	d.errs.add(path, "want a whole number (32-bit) or a string, got %s", describe(in))
}

// unknownField explains a field the struct does not have: a Kubernetes field
// Kedge does not support, or a likely typo of a known one.
func unknownField(key string, fields map[string]fieldInfo) string {
	if kubernetesOnlyField(key) {
		return "field not supported by Kedge"
	}
	best, bestDist := "", 3
	for name := range fields {
		dist := 0
		if !strings.EqualFold(name, key) {
			dist = editDistance(strings.ToLower(key), strings.ToLower(name), 3)
		}
		if dist < bestDist || dist == bestDist && name < best {
			best, bestDist = name, dist
		}
	}
	if best != "" && (bestDist == 0 || bestDist <= 2 && 2*bestDist < len(key)) {
		return fmt.Sprintf("unknown field (did you mean %q?)", best)
	}
	return "unknown field"
}

// kubernetesOnlyField reports Kubernetes fields, at any depth, that Kedge
// knows of and does not support, so the message can say so.
func kubernetesOnlyField(name string) bool {
	switch name {
	case "affinity", "serviceAccountName", "serviceAccount", "automountServiceAccountToken",
		"priorityClassName", "priority", "preemptionPolicy", "schedulerName", "nodeName",
		"imagePullSecrets", "topologySpreadConstraints", "runtimeClassName", "overhead",
		"shareProcessNamespace", "hostPID", "hostIPC", "hostUsers", "ephemeralContainers",
		"readinessGates", "enableServiceLinks", "subdomain", "setHostnameAsFQDN",
		"activeDeadlineSeconds", "os", "schedulingGates", "resourceClaims",
		"lifecycle", "terminationMessagePath", "terminationMessagePolicy", "volumeDevices",
		"resizePolicy", "stdinOnce", "grpc", "resourceFieldRef", "fileKeyRef",
		"seccompProfile", "seLinuxOptions", "appArmorProfile", "windowsOptions", "procMount",
		"persistentVolumeClaim", "projected", "downwardAPI", "nfs", "csi", "ephemeral",
		"iscsi", "image", "gitRepo", "cephfs", "rbd", "awsElasticBlockStore", "gcePersistentDisk",
		"azureDisk", "azureFile", "fc", "flexVolume", "glusterfs", "local",
		"mountPropagation", "subPathExpr", "recursiveReadOnly",
		"progressDeadlineSeconds", "immutable", "managedFields", "ownerReferences",
		"finalizers", "generateName", "selfLink", "deletionTimestamp",
		"deletionGracePeriodSeconds", "terminationGracePeriodSeconds", "sysctls",
		"fsGroupChangePolicy", "supplementalGroupsPolicy", "seLinuxChangePolicy":
		return true
	}
	return false
}

// editDistance is the Levenshtein distance of a and b, or max when it is at
// least max (it stops early).
func editDistance(a, b string, max int) int {
	if d := len(a) - len(b); d >= max || -d >= max {
		return max
	}
	prev := make([]int, len(b)+1)
	cur := make([]int, len(b)+1)
	for j := range prev {
		prev[j] = j
	}
	for i := 1; i <= len(a); i++ {
		cur[0] = i
		rowMin := cur[0]
		for j := 1; j <= len(b); j++ {
			cost := 1
			if a[i-1] == b[j-1] {
				cost = 0
			}
			cur[j] = min(prev[j]+1, cur[j-1]+1, prev[j-1]+cost)
			rowMin = min(rowMin, cur[j])
		}
		if rowMin >= max {
			return max
		}
		prev, cur = cur, prev
	}
	return min(prev[len(b)], max)
}
