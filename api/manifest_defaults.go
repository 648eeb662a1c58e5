package api

import "strings"

// Defaults, as Kubernetes applies them, so a manifest means in Kedge what it
// means in Kubernetes.
const (
	// DefaultReplicas of a Deployment.
	DefaultReplicas int32 = 1
	// DefaultRevisionHistoryLimit of a Deployment or DaemonSet.
	DefaultRevisionHistoryLimit int32 = 10
	// DefaultMaxSurge and DefaultMaxUnavailable of a Deployment's rolling update.
	DefaultMaxSurge       = "25%"
	DefaultMaxUnavailable = "25%"
	// DefaultTerminationGracePeriodSeconds between SIGTERM and SIGKILL.
	DefaultTerminationGracePeriodSeconds int64 = 30
	// DefaultVolumeMode of files projected from a ConfigMap or Secret (0644).
	DefaultVolumeMode int32 = 0o644
	// Probe defaults.
	DefaultProbePeriodSeconds    int32 = 10
	DefaultProbeTimeoutSeconds   int32 = 1
	DefaultProbeSuccessThreshold int32 = 1
	DefaultProbeFailureThreshold int32 = 3
)

// Default implements Object.
func (o *Namespace) Default() {
	setTypeMeta(&o.TypeMeta, KindNamespace, APIVersionCore)
}

// Default implements Object.
func (o *ResourceQuota) Default() {
	setTypeMeta(&o.TypeMeta, KindResourceQuota, APIVersionCore)
	defaultNamespace(&o.ObjectMeta)
}

// Default implements Object.
func (o *ConfigMap) Default() {
	setTypeMeta(&o.TypeMeta, KindConfigMap, APIVersionCore)
	defaultNamespace(&o.ObjectMeta)
}

// Default implements Object: type Opaque, and StringData merged into Data.
func (o *Secret) Default() {
	setTypeMeta(&o.TypeMeta, KindSecret, APIVersionCore)
	defaultNamespace(&o.ObjectMeta)
	if o.Type == "" {
		o.Type = SecretTypeOpaque
	}
	if len(o.StringData) > 0 {
		if o.Data == nil {
			o.Data = make(map[string][]byte, len(o.StringData))
		}
		for k, v := range o.StringData {
			o.Data[k] = []byte(v)
		}
		o.StringData = nil
	}
}

// Default implements Object.
func (o *ClusterPod) Default() {
	setTypeMeta(&o.TypeMeta, KindPod, APIVersionCore)
	defaultNamespace(&o.ObjectMeta)
	o.Spec.Default()
}

// Default implements Object: replicas 1, strategy RollingUpdate with
// maxSurge and maxUnavailable 25%, revisionHistoryLimit 10, and the pod
// template's defaults.
func (o *Deployment) Default() {
	setTypeMeta(&o.TypeMeta, KindDeployment, APIVersionApps)
	defaultNamespace(&o.ObjectMeta)
	s := &o.Spec
	if s.Replicas == nil {
		s.Replicas = ptr(DefaultReplicas)
	}
	if s.Strategy.Type == "" {
		s.Strategy.Type = StrategyRollingUpdate
	}
	if s.Strategy.Type == StrategyRollingUpdate {
		if s.Strategy.RollingUpdate == nil {
			s.Strategy.RollingUpdate = &RollingUpdateDeployment{}
		}
		ru := s.Strategy.RollingUpdate
		if ru.MaxSurge == nil {
			ru.MaxSurge = ptr(FromString(DefaultMaxSurge))
		}
		if ru.MaxUnavailable == nil {
			ru.MaxUnavailable = ptr(FromString(DefaultMaxUnavailable))
		}
	}
	if s.RevisionHistoryLimit == nil {
		s.RevisionHistoryLimit = ptr(DefaultRevisionHistoryLimit)
	}
	s.Template.Spec.Default()
}

// Default implements Object: updateStrategy RollingUpdate with
// maxUnavailable 1 and maxSurge 0, revisionHistoryLimit 10, and the pod
// template's defaults.
func (o *DaemonSet) Default() {
	setTypeMeta(&o.TypeMeta, KindDaemonSet, APIVersionApps)
	defaultNamespace(&o.ObjectMeta)
	s := &o.Spec
	if s.UpdateStrategy.Type == "" {
		s.UpdateStrategy.Type = StrategyRollingUpdate
	}
	if s.UpdateStrategy.Type == StrategyRollingUpdate {
		if s.UpdateStrategy.RollingUpdate == nil {
			s.UpdateStrategy.RollingUpdate = &RollingUpdateDaemonSet{}
		}
		ru := s.UpdateStrategy.RollingUpdate
		if ru.MaxUnavailable == nil {
			ru.MaxUnavailable = ptr(FromInt(1))
		}
		if ru.MaxSurge == nil {
			ru.MaxSurge = ptr(FromInt(0))
		}
	}
	if s.RevisionHistoryLimit == nil {
		s.RevisionHistoryLimit = ptr(DefaultRevisionHistoryLimit)
	}
	s.Template.Spec.Default()
}

// Default fills in a pod spec: restartPolicy Always, dnsPolicy ClusterFirst,
// a 30 s grace period, emptyDir for a volume without a source, file mode
// 0644 for ConfigMap and Secret volumes, and each container's defaults.
func (s *PodSpec) Default() {
	if s.RestartPolicy == "" {
		s.RestartPolicy = RestartAlways
	}
	if s.DNSPolicy == "" {
		s.DNSPolicy = DNSClusterFirst
	}
	if s.TerminationGracePeriodSeconds == nil {
		s.TerminationGracePeriodSeconds = ptr(DefaultTerminationGracePeriodSeconds)
	}
	for i := range s.Volumes {
		v := &s.Volumes[i]
		if v.EmptyDir == nil && v.HostPath == nil && v.ConfigMap == nil && v.Secret == nil {
			v.EmptyDir = &EmptyDirVolumeSource{}
		}
		if v.ConfigMap != nil && v.ConfigMap.DefaultMode == nil {
			v.ConfigMap.DefaultMode = ptr(DefaultVolumeMode)
		}
		if v.Secret != nil && v.Secret.DefaultMode == nil {
			v.Secret.DefaultMode = ptr(DefaultVolumeMode)
		}
	}
	for i := range s.InitContainers {
		s.InitContainers[i].Default(s.HostNetwork)
	}
	for i := range s.Containers {
		s.Containers[i].Default(s.HostNetwork)
	}
}

// Default fills in a container: the image pull policy (Always for ":latest"
// or no tag, else IfNotPresent), protocol TCP, hostPort = containerPort on
// the host network, requests = limits where only limits are given, the
// probes' defaults, and fieldRef apiVersion v1.
func (c *ContainerSpec) Default(hostNetwork bool) {
	if c.ImagePullPolicy == "" {
		c.ImagePullPolicy = defaultPullPolicy(c.Image)
	}
	for i := range c.Ports {
		p := &c.Ports[i]
		if p.Protocol == "" {
			p.Protocol = ProtocolTCP
		}
		if hostNetwork && p.HostPort == 0 {
			p.HostPort = p.ContainerPort
		}
	}
	if len(c.Resources.Limits) > 0 {
		if c.Resources.Requests == nil {
			c.Resources.Requests = make(ResourceList, len(c.Resources.Limits))
		}
		for k, v := range c.Resources.Limits {
			if _, ok := c.Resources.Requests[k]; !ok {
				c.Resources.Requests[k] = v
			}
		}
	}
	for _, p := range []*Probe{c.LivenessProbe, c.ReadinessProbe, c.StartupProbe} {
		if p != nil {
			p.Default()
		}
	}
	for i := range c.Env {
		if vf := c.Env[i].ValueFrom; vf != nil && vf.FieldRef != nil && vf.FieldRef.APIVersion == "" {
			vf.FieldRef.APIVersion = APIVersionCore
		}
	}
}

// Default fills in a probe: period 10 s, timeout 1 s, success threshold 1,
// failure threshold 3; an HTTP probe's path "/" and scheme HTTP.
func (p *Probe) Default() {
	if p.PeriodSeconds == 0 {
		p.PeriodSeconds = DefaultProbePeriodSeconds
	}
	if p.TimeoutSeconds == 0 {
		p.TimeoutSeconds = DefaultProbeTimeoutSeconds
	}
	if p.SuccessThreshold == 0 {
		p.SuccessThreshold = DefaultProbeSuccessThreshold
	}
	if p.FailureThreshold == 0 {
		p.FailureThreshold = DefaultProbeFailureThreshold
	}
	if h := p.HTTPGet; h != nil {
		if h.Path == "" {
			h.Path = "/"
		}
		if h.Scheme == "" {
			h.Scheme = SchemeHTTP
		}
	}
}

// defaultPullPolicy is Always for an image without a tag or digest, or
// tagged "latest"; IfNotPresent otherwise.
func defaultPullPolicy(image string) string {
	if strings.Contains(image, "@") {
		return PullIfNotPresent
	}
	name := image[strings.LastIndex(image, "/")+1:]
	_, tag, ok := strings.Cut(name, ":")
	if !ok || tag == "latest" {
		return PullAlways
	}
	return PullIfNotPresent
}

// setTypeMeta fills an empty kind and apiVersion.
func setTypeMeta(t *TypeMeta, kind, apiVersion string) {
	if t.Kind == "" {
		t.Kind = kind
	}
	if t.APIVersion == "" {
		t.APIVersion = apiVersion
	}
}

// defaultNamespace puts a namespaced object without one in "default".
func defaultNamespace(m *ObjectMeta) {
	if m.Namespace == "" {
		m.Namespace = DefaultNamespace
	}
}

// ptr is a pointer to a copy of v.
func ptr[T any](v T) *T { return &v }
