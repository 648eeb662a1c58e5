package api

import "time"

// Cluster objects: the Kubernetes-shaped workload model that `kedge apply`
// takes and `kedge get` prints (Namespace, ResourceQuota, ConfigMap, Secret,
// Pod, Deployment, DaemonSet). The JSON names are Kubernetes' own, so real
// manifests decode unchanged; see DecodeManifests. Where a name clashes with
// the engine's types of this package, the cluster object carries a prefix or
// suffix: ClusterPod (kind Pod), ContainerSpec, VolumeSpec.

// Kinds Kedge accepts in manifests.
const (
	KindNamespace     = "Namespace"
	KindResourceQuota = "ResourceQuota"
	KindConfigMap     = "ConfigMap"
	KindSecret        = "Secret"
	KindPod           = "Pod"
	KindDeployment    = "Deployment"
	KindDaemonSet     = "DaemonSet"
)

// API versions of the kinds: core kinds are "v1", workload controllers "apps/v1".
const (
	APIVersionCore = "v1"
	APIVersionApps = "apps/v1"
)

// DefaultNamespace is the namespace of an object that names none.
const DefaultNamespace = "default"

// Object is a cluster object of any kind. Every kind's pointer type
// implements it (*Deployment, *ClusterPod ...).
type Object interface {
	// GetObjectMeta is the object's metadata, to read or change in place.
	GetObjectMeta() *ObjectMeta
	// GetKind is the object's kind ("Deployment"), whatever its TypeMeta says.
	GetKind() string
	// Default fills in what the manifest left out, as Kubernetes defaults it
	// (namespace "default", replicas 1 ...). It is idempotent.
	Default()
	// Validate checks the object, defaulted first, and returns every problem
	// at once: an errors.Join of *FieldError, each wrapping ErrInvalid.
	Validate() error
}

// TypeMeta names an object's kind and API version.
type TypeMeta struct {
	APIVersion string `json:"apiVersion,omitempty"`
	Kind       string `json:"kind,omitempty"`
}

// ObjectMeta is the metadata every object has. Name, Namespace, Labels and
// Annotations come from the manifest; the rest is Kedge's to set.
type ObjectMeta struct {
	// Name is unique among the objects of one kind in one namespace.
	Name string `json:"name,omitempty"`
	// Namespace is empty for a Namespace; "default" when a manifest omits it.
	Namespace string `json:"namespace,omitempty"`
	// Labels select objects (a Deployment's selector matches its pods').
	Labels map[string]string `json:"labels,omitempty"`
	// Annotations carry free-form data, and Kedge's own settings under
	// "kedge.io/" (see AnnotationDisconnectReplace).
	Annotations map[string]string `json:"annotations,omitempty"`
	// UID identifies this incarnation of the object; set on creation.
	UID string `json:"uid,omitempty"`
	// Generation counts changes of the desired state (spec); set by Kedge.
	Generation int64 `json:"generation,omitempty"`
	// ResourceVersion is the Raft index of the object's last change. It is a
	// string in JSON, as in Kubernetes.
	ResourceVersion uint64 `json:"resourceVersion,omitempty,string"`
	// CreationTimestamp is when the cluster first stored the object.
	CreationTimestamp time.Time `json:"creationTimestamp,omitzero"`
}

// Namespace is a scope of names, and of a ResourceQuota.
type Namespace struct {
	TypeMeta   `json:",inline"`
	ObjectMeta `json:"metadata"`
	Status     NamespaceStatus `json:"status,omitzero"`
}

// NamespaceStatus is a namespace's life-cycle phase.
type NamespaceStatus struct {
	// Phase is "Active" or "Terminating".
	Phase string `json:"phase,omitempty"`
}

// ResourceQuota caps what the workloads of its namespace may ask for.
type ResourceQuota struct {
	TypeMeta   `json:",inline"`
	ObjectMeta `json:"metadata"`
	Spec       ResourceQuotaSpec   `json:"spec"`
	Status     ResourceQuotaStatus `json:"status,omitzero"`
}

// ResourceQuotaSpec is the quota's limits.
type ResourceQuotaSpec struct {
	// Hard maps a quota resource (QuotaRequestsCPU, QuotaPods ...) to its cap.
	Hard ResourceList `json:"hard,omitempty"`
}

// ResourceQuotaStatus is the quota's caps and current use, set by Kedge.
type ResourceQuotaStatus struct {
	Hard ResourceList `json:"hard,omitempty"`
	Used ResourceList `json:"used,omitempty"`
}

// Quota resources: what a ResourceQuota's spec.hard may cap. "cpu" and
// "memory" are short for the requests.
const (
	QuotaCPU            = "cpu"
	QuotaMemory         = "memory"
	QuotaRequestsCPU    = "requests.cpu"
	QuotaRequestsMemory = "requests.memory"
	QuotaLimitsCPU      = "limits.cpu"
	QuotaLimitsMemory   = "limits.memory"
	QuotaPods           = "pods"
	QuotaConfigMaps     = "configmaps"
	QuotaSecrets        = "secrets"
	QuotaDeployments    = "count/deployments.apps"
	QuotaDaemonSets     = "count/daemonsets.apps"
)

// ConfigMap holds configuration for pods, as environment variables or files.
type ConfigMap struct {
	TypeMeta   `json:",inline"`
	ObjectMeta `json:"metadata"`
	// Data is UTF-8 text by key.
	Data map[string]string `json:"data,omitempty"`
	// BinaryData is bytes by key (base64 in JSON and YAML).
	BinaryData map[string][]byte `json:"binaryData,omitempty"`
}

// Secret types with required keys; any other non-empty type is accepted.
const (
	SecretTypeOpaque           = "Opaque"
	SecretTypeTLS              = "kubernetes.io/tls"
	SecretTypeDockerConfigJSON = "kubernetes.io/dockerconfigjson"
	SecretTypeBasicAuth        = "kubernetes.io/basic-auth"
)

// Secret holds sensitive data for pods, as environment variables or files.
type Secret struct {
	TypeMeta   `json:",inline"`
	ObjectMeta `json:"metadata"`
	// Type is "Opaque" (the default) or a Kubernetes secret type such as
	// "kubernetes.io/tls", which requires keys tls.crt and tls.key.
	Type string `json:"type,omitempty"`
	// Data is bytes by key (base64 in JSON and YAML, as Kubernetes writes it).
	Data map[string][]byte `json:"data,omitempty"`
	// StringData is plain text by key, for writing manifests by hand;
	// Default merges it into Data (it wins over Data) and clears it.
	StringData map[string]string `json:"stringData,omitempty"`
}

// GetObjectMeta implements Object.
func (o *Namespace) GetObjectMeta() *ObjectMeta { return &o.ObjectMeta }

// GetKind implements Object.
func (o *Namespace) GetKind() string { return KindNamespace }

// GetObjectMeta implements Object.
func (o *ResourceQuota) GetObjectMeta() *ObjectMeta { return &o.ObjectMeta }

// GetKind implements Object.
func (o *ResourceQuota) GetKind() string { return KindResourceQuota }

// GetObjectMeta implements Object.
func (o *ConfigMap) GetObjectMeta() *ObjectMeta { return &o.ObjectMeta }

// GetKind implements Object.
func (o *ConfigMap) GetKind() string { return KindConfigMap }

// GetObjectMeta implements Object.
func (o *Secret) GetObjectMeta() *ObjectMeta { return &o.ObjectMeta }

// GetKind implements Object.
func (o *Secret) GetKind() string { return KindSecret }

// GetObjectMeta implements Object.
func (o *ClusterPod) GetObjectMeta() *ObjectMeta { return &o.ObjectMeta }

// GetKind implements Object.
func (o *ClusterPod) GetKind() string { return KindPod }

// GetObjectMeta implements Object.
func (o *Deployment) GetObjectMeta() *ObjectMeta { return &o.ObjectMeta }

// GetKind implements Object.
func (o *Deployment) GetKind() string { return KindDeployment }

// GetObjectMeta implements Object.
func (o *DaemonSet) GetObjectMeta() *ObjectMeta { return &o.ObjectMeta }

// GetKind implements Object.
func (o *DaemonSet) GetKind() string { return KindDaemonSet }

// Every kind is an Object.
var (
	_ Object = (*Namespace)(nil)
	_ Object = (*ResourceQuota)(nil)
	_ Object = (*ConfigMap)(nil)
	_ Object = (*Secret)(nil)
	_ Object = (*ClusterPod)(nil)
	_ Object = (*Deployment)(nil)
	_ Object = (*DaemonSet)(nil)
)

// NewObject is an empty object of kind, and the apiVersion that kind wants;
// ok is false for a kind Kedge does not support.
func NewObject(kind string) (obj Object, apiVersion string, ok bool) {
	switch kind {
	case KindNamespace:
		return &Namespace{}, APIVersionCore, true
	case KindResourceQuota:
		return &ResourceQuota{}, APIVersionCore, true
	case KindConfigMap:
		return &ConfigMap{}, APIVersionCore, true
	case KindSecret:
		return &Secret{}, APIVersionCore, true
	case KindPod:
		return &ClusterPod{}, APIVersionCore, true
	case KindDeployment:
		return &Deployment{}, APIVersionApps, true
	case KindDaemonSet:
		return &DaemonSet{}, APIVersionApps, true
	}
	return nil, "", false
}

// Namespaced reports whether objects of kind live in a namespace (all but
// Namespace itself).
func Namespaced(kind string) bool { return kind != KindNamespace }
