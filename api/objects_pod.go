package api

// ClusterPod is a Kubernetes Pod as the cluster knows it (kind Pod): one or
// more containers placed together on one node, sharing network and IPC. The
// engine's own pod, a sandbox on one machine, is Pod.
type ClusterPod struct {
	TypeMeta   `json:",inline"`
	ObjectMeta `json:"metadata"`
	Spec       PodSpec   `json:"spec"`
	Status     PodStatus `json:"status,omitzero"`
}

// PodTemplateSpec is the pod a Deployment or DaemonSet makes copies of.
type PodTemplateSpec struct {
	ObjectMeta `json:"metadata,omitzero"`
	Spec       PodSpec `json:"spec"`
}

// Pod restart policies.
const (
	RestartAlways    = "Always"
	RestartOnFailure = "OnFailure"
	RestartNever     = "Never"
)

// Pod DNS policies.
const (
	DNSClusterFirst            = "ClusterFirst"
	DNSClusterFirstWithHostNet = "ClusterFirstWithHostNet"
	DNSDefault                 = "Default"
	DNSNone                    = "None"
)

// PodSpec is the desired state of a pod.
type PodSpec struct {
	// InitContainers run one after the other, each to success, before the
	// Containers start.
	InitContainers []ContainerSpec `json:"initContainers,omitempty"`
	// Containers run together; at least one.
	Containers []ContainerSpec `json:"containers"`
	// Volumes are what the containers' VolumeMounts may name.
	Volumes []VolumeSpec `json:"volumes,omitempty"`
	// RestartPolicy is Always (the default, and the only choice in a
	// Deployment or DaemonSet), OnFailure or Never.
	RestartPolicy string `json:"restartPolicy,omitempty"`
	// TerminationGracePeriodSeconds is how long containers get between
	// SIGTERM and SIGKILL (default 30).
	TerminationGracePeriodSeconds *int64 `json:"terminationGracePeriodSeconds,omitempty"`
	// NodeSelector places the pod only on nodes carrying all these labels.
	NodeSelector map[string]string `json:"nodeSelector,omitempty"`
	// Tolerations let the pod onto nodes with matching taints.
	Tolerations []Toleration `json:"tolerations,omitempty"`
	// HostNetwork runs the pod in the node's network namespace.
	HostNetwork bool `json:"hostNetwork,omitempty"`
	// Hostname is the pod's host name (default: the pod's name).
	Hostname string `json:"hostname,omitempty"`
	// DNSPolicy is ClusterFirst (default), ClusterFirstWithHostNet, Default
	// (the node's resolv.conf) or None (only DNSConfig).
	DNSPolicy string `json:"dnsPolicy,omitempty"`
	// DNSConfig adds to, or with DNSPolicy None replaces, the resolver setup.
	DNSConfig *PodDNSConfig `json:"dnsConfig,omitempty"`
	// HostAliases are extra /etc/hosts entries.
	HostAliases []HostAlias `json:"hostAliases,omitempty"`
	// SecurityContext holds settings for all containers of the pod.
	SecurityContext *PodSecurityContext `json:"securityContext,omitempty"`
}

// PodDNSConfig is a pod's resolver setup.
type PodDNSConfig struct {
	Nameservers []string             `json:"nameservers,omitempty"`
	Searches    []string             `json:"searches,omitempty"`
	Options     []PodDNSConfigOption `json:"options,omitempty"`
}

// PodDNSConfigOption is one resolv.conf option ("ndots", "2").
type PodDNSConfigOption struct {
	Name  string  `json:"name"`
	Value *string `json:"value,omitempty"`
}

// HostAlias maps an IP address to host names in the pod's /etc/hosts.
type HostAlias struct {
	IP        string   `json:"ip"`
	Hostnames []string `json:"hostnames,omitempty"`
}

// PodSecurityContext is the identity the pod's containers run as unless a
// container's SecurityContext says otherwise.
type PodSecurityContext struct {
	RunAsUser    *int64 `json:"runAsUser,omitempty"`
	RunAsGroup   *int64 `json:"runAsGroup,omitempty"`
	RunAsNonRoot *bool  `json:"runAsNonRoot,omitempty"`
	// FSGroup owns the pod's volumes and is added to every container's groups.
	FSGroup            *int64  `json:"fsGroup,omitempty"`
	SupplementalGroups []int64 `json:"supplementalGroups,omitempty"`
}

// Toleration operators and taint effects.
const (
	TolerationOpEqual  = "Equal"
	TolerationOpExists = "Exists"

	TaintNoSchedule       = "NoSchedule"
	TaintPreferNoSchedule = "PreferNoSchedule"
	TaintNoExecute        = "NoExecute"
)

// Toleration lets a pod onto a node whose taint it matches.
type Toleration struct {
	// Key is the taint's key; empty with operator Exists matches every taint.
	Key string `json:"key,omitempty"`
	// Operator is Equal (default) or Exists.
	Operator string `json:"operator,omitempty"`
	// Value must equal the taint's value (operator Equal).
	Value string `json:"value,omitempty"`
	// Effect is the taint effect matched; empty matches all.
	Effect string `json:"effect,omitempty"`
	// TolerationSeconds bounds how long a NoExecute taint is tolerated.
	TolerationSeconds *int64 `json:"tolerationSeconds,omitempty"`
}

// Image pull policies.
const (
	PullAlways       = "Always"
	PullIfNotPresent = "IfNotPresent"
	PullNever        = "Never"
)

// ContainerSpec is one container of a pod (Kubernetes' Container).
type ContainerSpec struct {
	// Name is unique in the pod (a DNS label).
	Name string `json:"name"`
	// Image is the image reference.
	Image string `json:"image"`
	// Command replaces the image's entrypoint; Args its command.
	Command    []string `json:"command,omitempty"`
	Args       []string `json:"args,omitempty"`
	WorkingDir string   `json:"workingDir,omitempty"`
	// Ports are the ports the container listens on; HostPort publishes one.
	Ports []ContainerPort `json:"ports,omitempty"`
	// EnvFrom imports every key of a ConfigMap or Secret as a variable;
	// Env wins over it.
	EnvFrom   []EnvFromSource      `json:"envFrom,omitempty"`
	Env       []EnvVar             `json:"env,omitempty"`
	Resources ResourceRequirements `json:"resources,omitzero"`
	// VolumeMounts name volumes of the pod.
	VolumeMounts   []VolumeMount `json:"volumeMounts,omitempty"`
	LivenessProbe  *Probe        `json:"livenessProbe,omitempty"`
	ReadinessProbe *Probe        `json:"readinessProbe,omitempty"`
	StartupProbe   *Probe        `json:"startupProbe,omitempty"`
	// ImagePullPolicy is Always, IfNotPresent or Never; the default is Always
	// for a ":latest" or untagged image, IfNotPresent otherwise.
	ImagePullPolicy string           `json:"imagePullPolicy,omitempty"`
	SecurityContext *SecurityContext `json:"securityContext,omitempty"`
	// Stdin keeps the container's stdin open; TTY gives it a terminal.
	Stdin bool `json:"stdin,omitempty"`
	TTY   bool `json:"tty,omitempty"`
}

// Port protocols.
const (
	ProtocolTCP = "TCP"
	ProtocolUDP = "UDP"
)

// ContainerPort is a port a container listens on.
type ContainerPort struct {
	// Name, when set, lets probes refer to the port (an IANA service name).
	Name          string `json:"name,omitempty"`
	ContainerPort int32  `json:"containerPort"`
	// HostPort, when set, publishes the port on the node (on HostIP).
	HostPort int32  `json:"hostPort,omitempty"`
	HostIP   string `json:"hostIP,omitempty"`
	// Protocol is TCP (default) or UDP.
	Protocol string `json:"protocol,omitempty"`
}

// EnvVar is one environment variable: a Value, or a value from elsewhere.
type EnvVar struct {
	Name      string        `json:"name"`
	Value     string        `json:"value,omitempty"`
	ValueFrom *EnvVarSource `json:"valueFrom,omitempty"`
}

// EnvVarSource is where a variable's value comes from: exactly one of a
// ConfigMap key, a Secret key or a field of the pod.
type EnvVarSource struct {
	ConfigMapKeyRef *KeySelector         `json:"configMapKeyRef,omitempty"`
	SecretKeyRef    *KeySelector         `json:"secretKeyRef,omitempty"`
	FieldRef        *ObjectFieldSelector `json:"fieldRef,omitempty"`
}

// KeySelector names one key of a ConfigMap or Secret in the pod's namespace.
type KeySelector struct {
	Name string `json:"name"`
	Key  string `json:"key"`
	// Optional lets the pod start without the object or key.
	Optional *bool `json:"optional,omitempty"`
}

// ObjectFieldSelector names a field of the pod: metadata.name,
// metadata.namespace, metadata.uid, metadata.labels['KEY'],
// metadata.annotations['KEY'], spec.nodeName, status.podIP or status.hostIP.
type ObjectFieldSelector struct {
	// APIVersion is the schema of FieldPath, "v1".
	APIVersion string `json:"apiVersion,omitempty"`
	FieldPath  string `json:"fieldPath"`
}

// EnvFromSource imports every key of a ConfigMap or a Secret (exactly one).
type EnvFromSource struct {
	// Prefix is put before every imported key.
	Prefix       string        `json:"prefix,omitempty"`
	ConfigMapRef *EnvSourceRef `json:"configMapRef,omitempty"`
	SecretRef    *EnvSourceRef `json:"secretRef,omitempty"`
}

// EnvSourceRef names a ConfigMap or Secret in the pod's namespace.
type EnvSourceRef struct {
	Name string `json:"name"`
	// Optional lets the pod start without the object.
	Optional *bool `json:"optional,omitempty"`
}

// ResourceRequirements are a container's requests (what the scheduler
// reserves) and limits (what the kernel enforces), by ResourceCPU and
// ResourceMemory.
type ResourceRequirements struct {
	Requests ResourceList `json:"requests,omitempty"`
	Limits   ResourceList `json:"limits,omitempty"`
}

// VolumeMount mounts a volume of the pod into a container.
type VolumeMount struct {
	Name      string `json:"name"`
	MountPath string `json:"mountPath"`
	ReadOnly  bool   `json:"readOnly,omitempty"`
	// SubPath mounts a path inside the volume instead of its root.
	SubPath string `json:"subPath,omitempty"`
}

// Probe checks a container: exactly one of Exec, HTTPGet or TCPSocket.
type Probe struct {
	Exec      *ExecAction      `json:"exec,omitempty"`
	HTTPGet   *HTTPGetAction   `json:"httpGet,omitempty"`
	TCPSocket *TCPSocketAction `json:"tcpSocket,omitempty"`
	// InitialDelaySeconds waits after the container starts.
	InitialDelaySeconds int32 `json:"initialDelaySeconds,omitempty"`
	// PeriodSeconds between checks (default 10); TimeoutSeconds of one (1).
	PeriodSeconds  int32 `json:"periodSeconds,omitempty"`
	TimeoutSeconds int32 `json:"timeoutSeconds,omitempty"`
	// SuccessThreshold successes in a row make it pass (default 1; must be
	// 1 for liveness and startup); FailureThreshold failures fail it (3).
	SuccessThreshold int32 `json:"successThreshold,omitempty"`
	FailureThreshold int32 `json:"failureThreshold,omitempty"`
}

// ExecAction runs a command in the container; exit status 0 passes.
type ExecAction struct {
	Command []string `json:"command,omitempty"`
}

// HTTP probe schemes.
const (
	SchemeHTTP  = "HTTP"
	SchemeHTTPS = "HTTPS"
)

// HTTPGetAction sends a GET; a status from 200 to 399 passes.
type HTTPGetAction struct {
	// Path defaults to "/".
	Path string `json:"path,omitempty"`
	// Port is a number or the name of one of the container's ports.
	Port IntOrString `json:"port"`
	// Host defaults to the pod's IP.
	Host string `json:"host,omitempty"`
	// Scheme is HTTP (default) or HTTPS (certificates are not verified).
	Scheme      string       `json:"scheme,omitempty"`
	HTTPHeaders []HTTPHeader `json:"httpHeaders,omitempty"`
}

// HTTPHeader is a header of an HTTP probe.
type HTTPHeader struct {
	Name  string `json:"name"`
	Value string `json:"value"`
}

// TCPSocketAction opens a TCP connection; connecting passes.
type TCPSocketAction struct {
	// Port is a number or the name of one of the container's ports.
	Port IntOrString `json:"port"`
	Host string      `json:"host,omitempty"`
}

// SecurityContext is a container's identity and privileges.
type SecurityContext struct {
	Privileged               *bool         `json:"privileged,omitempty"`
	RunAsUser                *int64        `json:"runAsUser,omitempty"`
	RunAsGroup               *int64        `json:"runAsGroup,omitempty"`
	RunAsNonRoot             *bool         `json:"runAsNonRoot,omitempty"`
	ReadOnlyRootFilesystem   *bool         `json:"readOnlyRootFilesystem,omitempty"`
	AllowPrivilegeEscalation *bool         `json:"allowPrivilegeEscalation,omitempty"`
	Capabilities             *Capabilities `json:"capabilities,omitempty"`
}

// Capabilities adds and drops Linux capabilities ("NET_ADMIN", "ALL").
type Capabilities struct {
	Add  []string `json:"add,omitempty"`
	Drop []string `json:"drop,omitempty"`
}

// HostPath volume types: what must be at the path ("" checks nothing).
const (
	HostPathDirectoryOrCreate = "DirectoryOrCreate"
	HostPathDirectory         = "Directory"
	HostPathFileOrCreate      = "FileOrCreate"
	HostPathFile              = "File"
	HostPathSocket            = "Socket"
	HostPathCharDevice        = "CharDevice"
	HostPathBlockDevice       = "BlockDevice"
)

// VolumeSpec is a volume of a pod (Kubernetes' Volume): exactly one of
// EmptyDir, HostPath, ConfigMap or Secret. One with none is an EmptyDir.
type VolumeSpec struct {
	Name      string                 `json:"name"`
	EmptyDir  *EmptyDirVolumeSource  `json:"emptyDir,omitempty"`
	HostPath  *HostPathVolumeSource  `json:"hostPath,omitempty"`
	ConfigMap *ConfigMapVolumeSource `json:"configMap,omitempty"`
	Secret    *SecretVolumeSource    `json:"secret,omitempty"`
}

// EmptyDirVolumeSource is a scratch directory that lives as long as the pod.
type EmptyDirVolumeSource struct {
	// Medium is "" (the node's disk) or "Memory" (a tmpfs).
	Medium    string    `json:"medium,omitempty"`
	SizeLimit *Quantity `json:"sizeLimit,omitempty"`
}

// HostPathVolumeSource is a path on the node.
type HostPathVolumeSource struct {
	Path string `json:"path"`
	// Type is "" or one of HostPathDirectory, HostPathFile ...
	Type string `json:"type,omitempty"`
}

// ConfigMapVolumeSource projects a ConfigMap's keys as files.
type ConfigMapVolumeSource struct {
	Name string `json:"name"`
	// Items picks keys and their file paths; empty means every key, named
	// after itself.
	Items []KeyToPath `json:"items,omitempty"`
	// DefaultMode is the files' mode (default 0644).
	DefaultMode *int32 `json:"defaultMode,omitempty"`
	Optional    *bool  `json:"optional,omitempty"`
}

// SecretVolumeSource projects a Secret's keys as files.
type SecretVolumeSource struct {
	SecretName string      `json:"secretName"`
	Items      []KeyToPath `json:"items,omitempty"`
	// DefaultMode is the files' mode (default 0644).
	DefaultMode *int32 `json:"defaultMode,omitempty"`
	Optional    *bool  `json:"optional,omitempty"`
}

// KeyToPath puts one key at a relative path inside the volume.
type KeyToPath struct {
	Key  string `json:"key"`
	Path string `json:"path"`
	// Mode overrides the volume's DefaultMode for this file.
	Mode *int32 `json:"mode,omitempty"`
}
