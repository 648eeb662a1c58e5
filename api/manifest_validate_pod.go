package api

import (
	"fmt"
	"maps"
	"net/netip"
	"path"
	"slices"
	"strconv"
	"strings"
)

// Validate implements Object.
func (o *ClusterPod) Validate() error {
	var l errList
	validateObjectMeta(&l, &o.ObjectMeta, KindPod, nameLabel)
	validatePodSpec(&l, "spec", &o.Spec, false)
	return l.join()
}

// validatePodSpec checks a pod spec under path; inController requires
// restartPolicy Always, as a Deployment's or DaemonSet's template does.
func validatePodSpec(l *errList, p string, s *PodSpec, inController bool) {
	volumes := make(map[string]bool, len(s.Volumes))
	for i := range s.Volumes {
		v := &s.Volumes[i]
		vp := fmt.Sprintf("%s.volumes[%d]", p, i)
		if volumes[v.Name] {
			l.add(vp+".name", "%q: duplicate volume name", v.Name)
		}
		volumes[v.Name] = true
		validateVolume(l, vp, v)
	}

	if len(s.Containers) == 0 {
		l.add(p+".containers", "at least one container is required")
	}
	names := make(map[string]bool)
	for i := range s.InitContainers {
		cp := fmt.Sprintf("%s.initContainers[%d]", p, i)
		validateContainer(l, cp, &s.InitContainers[i], volumes, names, true)
	}
	for i := range s.Containers {
		cp := fmt.Sprintf("%s.containers[%d]", p, i)
		validateContainer(l, cp, &s.Containers[i], volumes, names, false)
	}
	validateHostPorts(l, p+".initContainers", s.InitContainers, s.HostNetwork)
	validateHostPorts(l, p+".containers", s.Containers, s.HostNetwork)

	switch {
	case inController && s.RestartPolicy != RestartAlways:
		l.add(p+".restartPolicy", "%q: a controller's pods must have restartPolicy Always", s.RestartPolicy)
	default:
		oneOf(l, p+".restartPolicy", s.RestartPolicy, RestartAlways, RestartOnFailure, RestartNever)
	}
	validateNonNegative(l, p+".terminationGracePeriodSeconds", s.TerminationGracePeriodSeconds)
	validateLabels(l, p+".nodeSelector", s.NodeSelector)
	for i := range s.Tolerations {
		validateToleration(l, fmt.Sprintf("%s.tolerations[%d]", p, i), &s.Tolerations[i])
	}
	if s.Hostname != "" && !isDNSLabel(s.Hostname) {
		l.add(p+".hostname", "%q %s", s.Hostname, msgDNSLabel)
	}
	oneOf(l, p+".dnsPolicy", s.DNSPolicy, DNSClusterFirst, DNSClusterFirstWithHostNet, DNSDefault, DNSNone)
	validateDNSConfig(l, p+".dnsConfig", s.DNSConfig, s.DNSPolicy)
	for i, a := range s.HostAliases {
		ap := fmt.Sprintf("%s.hostAliases[%d]", p, i)
		if _, err := netip.ParseAddr(a.IP); err != nil {
			l.add(ap+".ip", "%q: want an IP address", a.IP)
		}
		if len(a.Hostnames) == 0 {
			l.add(ap+".hostnames", "at least one host name is required")
		}
		for j, h := range a.Hostnames {
			if !isDNSSubdomain(h) {
				l.add(fmt.Sprintf("%s.hostnames[%d]", ap, j), "%q %s", h, msgDNSSubdomain)
			}
		}
	}
	if sc := s.SecurityContext; sc != nil {
		validateNonNegative(l, p+".securityContext.runAsUser", sc.RunAsUser)
		validateNonNegative(l, p+".securityContext.runAsGroup", sc.RunAsGroup)
		validateNonNegative(l, p+".securityContext.fsGroup", sc.FSGroup)
		for i, g := range sc.SupplementalGroups {
			validateNonNegative(l, fmt.Sprintf("%s.securityContext.supplementalGroups[%d]", p, i), &g)
		}
		if sc.RunAsNonRoot != nil && *sc.RunAsNonRoot && sc.RunAsUser != nil && *sc.RunAsUser == 0 {
			l.add(p+".securityContext.runAsNonRoot", "contradicts runAsUser 0")
		}
	}
}

// validateDNSConfig checks a pod's resolver setup.
func validateDNSConfig(l *errList, p string, c *PodDNSConfig, policy string) {
	if c == nil {
		if policy == DNSNone {
			l.add(p, "required with dnsPolicy None")
		}
		return
	}
	if policy == DNSNone && len(c.Nameservers) == 0 {
		l.add(p+".nameservers", "at least one is required with dnsPolicy None")
	}
	if len(c.Nameservers) > 3 {
		l.add(p+".nameservers", "%d: at most 3", len(c.Nameservers))
	}
	for i, ns := range c.Nameservers {
		if _, err := netip.ParseAddr(ns); err != nil {
			l.add(fmt.Sprintf("%s.nameservers[%d]", p, i), "%q: want an IP address", ns)
		}
	}
	if len(c.Searches) > 32 {
		l.add(p+".searches", "%d: at most 32", len(c.Searches))
	}
	for i, s := range c.Searches {
		if !isDNSSubdomain(strings.TrimSuffix(s, ".")) {
			l.add(fmt.Sprintf("%s.searches[%d]", p, i), "%q %s", s, msgDNSSubdomain)
		}
	}
	for i, o := range c.Options {
		if o.Name == "" {
			l.add(fmt.Sprintf("%s.options[%d].name", p, i), "required")
		}
	}
}

// validateToleration checks one toleration.
func validateToleration(l *errList, p string, t *Toleration) {
	if t.Key != "" && !isQualifiedName(t.Key) {
		l.add(p+".key", "%q %s", t.Key, msgQualifiedName)
	}
	switch t.Operator {
	case "", TolerationOpEqual:
		if t.Key == "" {
			l.add(p+".operator", "must be Exists when key is empty")
		}
		if !isLabelValue(t.Value) {
			l.add(p+".value", "%q %s", t.Value, msgLabelValue)
		}
	case TolerationOpExists:
		if t.Value != "" {
			l.add(p+".value", "must be empty with operator Exists")
		}
	default:
		l.add(p+".operator", "%q: want Equal or Exists", t.Operator)
	}
	if t.Effect != "" {
		oneOf(l, p+".effect", t.Effect, TaintNoSchedule, TaintPreferNoSchedule, TaintNoExecute)
	}
	if t.TolerationSeconds != nil && t.Effect != TaintNoExecute {
		l.add(p+".tolerationSeconds", "only with effect NoExecute")
	}
}

// validateVolume checks a volume: its name, exactly one source, the source.
func validateVolume(l *errList, p string, v *VolumeSpec) {
	if !isDNSLabel(v.Name) {
		if v.Name == "" {
			l.add(p+".name", "required")
		} else {
			l.add(p+".name", "%q %s", v.Name, msgDNSLabel)
		}
	}
	var sources []string
	if v.EmptyDir != nil {
		sources = append(sources, "emptyDir")
		if m := v.EmptyDir.Medium; m != "" && m != "Memory" {
			l.add(p+".emptyDir.medium", "%q: want \"\" (disk) or Memory", m)
		}
	}
	if h := v.HostPath; h != nil {
		sources = append(sources, "hostPath")
		if !path.IsAbs(h.Path) || hasDotDot(h.Path) {
			l.add(p+".hostPath.path", "%q: want an absolute path without '..'", h.Path)
		}
		if h.Type != "" {
			oneOf(l, p+".hostPath.type", h.Type, HostPathDirectoryOrCreate, HostPathDirectory,
				HostPathFileOrCreate, HostPathFile, HostPathSocket, HostPathCharDevice, HostPathBlockDevice)
		}
	}
	if c := v.ConfigMap; c != nil {
		sources = append(sources, "configMap")
		validateRefName(l, p+".configMap.name", c.Name)
		validateProjection(l, p+".configMap", c.Items, c.DefaultMode)
	}
	if s := v.Secret; s != nil {
		sources = append(sources, "secret")
		validateRefName(l, p+".secret.secretName", s.SecretName)
		validateProjection(l, p+".secret", s.Items, s.DefaultMode)
	}
	if len(sources) != 1 {
		l.add(p, "want exactly one of emptyDir, hostPath, configMap or secret; has %s", strings.Join(sources, ", "))
	}
}

// validateProjection checks the items and modes of a ConfigMap or Secret volume.
func validateProjection(l *errList, p string, items []KeyToPath, defaultMode *int32) {
	validateMode(l, p+".defaultMode", defaultMode)
	for i, it := range items {
		ip := fmt.Sprintf("%s.items[%d]", p, i)
		if !isConfigKey(it.Key) {
			l.add(ip+".key", "%q %s", it.Key, msgConfigKey)
		}
		if it.Path == "" || path.IsAbs(it.Path) || hasDotDot(it.Path) {
			l.add(ip+".path", "%q: want a relative path without '..'", it.Path)
		}
		validateMode(l, ip+".mode", it.Mode)
	}
}

// validateMode checks a file mode: 0 to 0777.
func validateMode(l *errList, p string, mode *int32) {
	if mode != nil && (*mode < 0 || *mode > 0o777) {
		l.add(p, "%d: want a file mode from 0 to 0777 (511)", *mode)
	}
}

// validateRefName checks the name of a referenced ConfigMap or Secret.
func validateRefName(l *errList, p, name string) {
	switch {
	case name == "":
		l.add(p, "required")
	case !isDNSSubdomain(name):
		l.add(p, "%q %s", name, msgDNSSubdomain)
	}
}

// hasDotDot reports a ".." element in a slash path.
func hasDotDot(p string) bool {
	return slices.Contains(strings.Split(p, "/"), "..")
}

// validateContainer checks one container; names collects the pod's
// container names to find duplicates.
func validateContainer(l *errList, p string, c *ContainerSpec, volumes, names map[string]bool, init bool) {
	switch {
	case c.Name == "":
		l.add(p+".name", "required")
	case !isDNSLabel(c.Name):
		l.add(p+".name", "%q %s", c.Name, msgDNSLabel)
	case names[c.Name]:
		l.add(p+".name", "%q: duplicate container name", c.Name)
	}
	names[c.Name] = true
	if strings.TrimSpace(c.Image) == "" {
		l.add(p+".image", "required")
	} else if strings.ContainsAny(c.Image, " \t\r\n") {
		l.add(p+".image", "%q: must not contain white space", c.Image)
	}
	oneOf(l, p+".imagePullPolicy", c.ImagePullPolicy, PullAlways, PullIfNotPresent, PullNever)

	portNames := make(map[string]bool)
	for i := range c.Ports {
		pp := fmt.Sprintf("%s.ports[%d]", p, i)
		port := &c.Ports[i]
		if port.Name != "" {
			if !isPortName(port.Name) {
				l.add(pp+".name", "%q: want at most 15 lowercase letters, digits and '-', with a letter", port.Name)
			} else if portNames[port.Name] {
				l.add(pp+".name", "%q: duplicate port name", port.Name)
			}
			portNames[port.Name] = true
		}
		if port.ContainerPort < 1 || port.ContainerPort > 65535 {
			l.add(pp+".containerPort", "%d: want a port from 1 to 65535", port.ContainerPort)
		}
		if port.HostPort < 0 || port.HostPort > 65535 {
			l.add(pp+".hostPort", "%d: want a port from 1 to 65535, or 0 for none", port.HostPort)
		}
		if port.HostIP != "" {
			if _, err := netip.ParseAddr(port.HostIP); err != nil {
				l.add(pp+".hostIP", "%q: want an IP address", port.HostIP)
			}
		}
		oneOf(l, pp+".protocol", port.Protocol, ProtocolTCP, ProtocolUDP)
	}

	validateEnv(l, p, c)
	validateResources(l, p+".resources", &c.Resources)

	mountPaths := make(map[string]bool)
	for i, m := range c.VolumeMounts {
		mp := fmt.Sprintf("%s.volumeMounts[%d]", p, i)
		if !volumes[m.Name] {
			l.add(mp+".name", "%q: no volume of the pod has this name", m.Name)
		}
		if !path.IsAbs(m.MountPath) {
			l.add(mp+".mountPath", "%q: want an absolute path", m.MountPath)
		} else if mountPaths[path.Clean(m.MountPath)] {
			l.add(mp+".mountPath", "%q: mounted twice", m.MountPath)
		}
		mountPaths[path.Clean(m.MountPath)] = true
		if m.SubPath != "" && (path.IsAbs(m.SubPath) || hasDotDot(m.SubPath)) {
			l.add(mp+".subPath", "%q: want a relative path without '..'", m.SubPath)
		}
	}

	probes := []struct {
		name string
		p    *Probe
	}{{"livenessProbe", c.LivenessProbe}, {"readinessProbe", c.ReadinessProbe}, {"startupProbe", c.StartupProbe}}
	for _, pr := range probes {
		if pr.p == nil {
			continue
		}
		if init {
			l.add(p+"."+pr.name, "init containers cannot have probes")
			continue
		}
		validateProbe(l, p+"."+pr.name, pr.p, pr.name != "readinessProbe", portNames)
	}

	if sc := c.SecurityContext; sc != nil {
		sp := p + ".securityContext"
		validateNonNegative(l, sp+".runAsUser", sc.RunAsUser)
		validateNonNegative(l, sp+".runAsGroup", sc.RunAsGroup)
		if isTrue(sc.Privileged) && sc.AllowPrivilegeEscalation != nil && !*sc.AllowPrivilegeEscalation {
			l.add(sp+".allowPrivilegeEscalation", "cannot be false when privileged")
		}
		if isTrue(sc.RunAsNonRoot) && sc.RunAsUser != nil && *sc.RunAsUser == 0 {
			l.add(sp+".runAsNonRoot", "contradicts runAsUser 0")
		}
		if caps := sc.Capabilities; caps != nil {
			for i, c := range caps.Add {
				validateCapability(l, fmt.Sprintf("%s.capabilities.add[%d]", sp, i), c)
			}
			for i, c := range caps.Drop {
				validateCapability(l, fmt.Sprintf("%s.capabilities.drop[%d]", sp, i), c)
			}
		}
	}
}

// isTrue reports a set and true optional boolean.
func isTrue(b *bool) bool { return b != nil && *b }

// validateCapability checks a capability name: "NET_ADMIN", "CAP_NET_ADMIN", "ALL".
func validateCapability(l *errList, p, c string) {
	ok := c != ""
	for i := 0; i < len(c); i++ {
		if !(c[i] >= 'A' && c[i] <= 'Z' || c[i] == '_') {
			ok = false
		}
	}
	if !ok {
		l.add(p, "%q: want a capability name like NET_ADMIN", c)
	}
}

// validateEnv checks a container's env and envFrom.
func validateEnv(l *errList, p string, c *ContainerSpec) {
	for i, e := range c.Env {
		ep := fmt.Sprintf("%s.env[%d]", p, i)
		if !isEnvVarName(e.Name) {
			l.add(ep+".name", "%q: want letters, digits, '_', '-' or '.', not starting with a digit", e.Name)
		}
		vf := e.ValueFrom
		if vf == nil {
			continue
		}
		if e.Value != "" {
			l.add(ep, "has both value and valueFrom")
		}
		var sources []string
		if r := vf.ConfigMapKeyRef; r != nil {
			sources = append(sources, "configMapKeyRef")
			validateKeySelector(l, ep+".valueFrom.configMapKeyRef", r)
		}
		if r := vf.SecretKeyRef; r != nil {
			sources = append(sources, "secretKeyRef")
			validateKeySelector(l, ep+".valueFrom.secretKeyRef", r)
		}
		if r := vf.FieldRef; r != nil {
			sources = append(sources, "fieldRef")
			if r.APIVersion != APIVersionCore {
				l.add(ep+".valueFrom.fieldRef.apiVersion", "%q: want v1", r.APIVersion)
			}
			if !supportedFieldPath(r.FieldPath) {
				l.add(ep+".valueFrom.fieldRef.fieldPath", "%q: want metadata.name, metadata.namespace, metadata.uid, metadata.labels['KEY'], metadata.annotations['KEY'], spec.nodeName, status.podIP or status.hostIP", r.FieldPath)
			}
		}
		if len(sources) != 1 {
			l.add(ep+".valueFrom", "want exactly one of configMapKeyRef, secretKeyRef or fieldRef; has %s", strings.Join(sources, ", "))
		}
	}
	for i, e := range c.EnvFrom {
		ep := fmt.Sprintf("%s.envFrom[%d]", p, i)
		if e.Prefix != "" && !isEnvVarName(e.Prefix) {
			l.add(ep+".prefix", "%q: want letters, digits, '_', '-' or '.', not starting with a digit", e.Prefix)
		}
		switch {
		case e.ConfigMapRef != nil && e.SecretRef != nil:
			l.add(ep, "want exactly one of configMapRef or secretRef; has both")
		case e.ConfigMapRef != nil:
			validateRefName(l, ep+".configMapRef.name", e.ConfigMapRef.Name)
		case e.SecretRef != nil:
			validateRefName(l, ep+".secretRef.name", e.SecretRef.Name)
		default:
			l.add(ep, "want exactly one of configMapRef or secretRef; has none")
		}
	}
}

// validateKeySelector checks a reference to a key of a ConfigMap or Secret.
func validateKeySelector(l *errList, p string, r *KeySelector) {
	validateRefName(l, p+".name", r.Name)
	if !isConfigKey(r.Key) {
		l.add(p+".key", "%q %s", r.Key, msgConfigKey)
	}
}

// supportedFieldPath reports a pod field that env can take a value from.
func supportedFieldPath(fp string) bool {
	switch fp {
	case "metadata.name", "metadata.namespace", "metadata.uid", "spec.nodeName", "status.podIP", "status.hostIP":
		return true
	}
	for _, prefix := range []string{"metadata.labels['", "metadata.annotations['"} {
		if key, ok := strings.CutPrefix(fp, prefix); ok {
			key, ok = strings.CutSuffix(key, "']")
			return ok && isQualifiedName(key)
		}
	}
	return false
}

// validateResources checks resource names and that limits cover requests.
func validateResources(l *errList, p string, r *ResourceRequirements) {
	for _, k := range slices.Sorted(maps.Keys(r.Requests)) {
		if _, inLimits := r.Limits[k]; !inLimits && k != ResourceCPU && k != ResourceMemory {
			l.add(p+".requests["+k+"]", "resource not supported by Kedge (want cpu or memory)")
		}
	}
	for _, k := range slices.Sorted(maps.Keys(r.Limits)) {
		if k != ResourceCPU && k != ResourceMemory {
			l.add(p+".limits["+k+"]", "resource not supported by Kedge (want cpu or memory)")
		}
	}
	for _, k := range slices.Sorted(maps.Keys(r.Limits)) {
		limit := r.Limits[k]
		if req, ok := r.Requests[k]; ok && req.Cmp(limit) > 0 {
			l.add(p+".requests["+k+"]", "%s is more than the limit %s", req, limit)
		}
	}
}

// validateProbe checks a probe; single requires successThreshold 1
// (liveness and startup probes); ports are the container's named ports.
func validateProbe(l *errList, p string, pr *Probe, single bool, ports map[string]bool) {
	var handlers []string
	if e := pr.Exec; e != nil {
		handlers = append(handlers, "exec")
		if len(e.Command) == 0 {
			l.add(p+".exec.command", "required")
		}
	}
	if h := pr.HTTPGet; h != nil {
		handlers = append(handlers, "httpGet")
		validateProbePort(l, p+".httpGet.port", h.Port, ports)
		oneOf(l, p+".httpGet.scheme", h.Scheme, SchemeHTTP, SchemeHTTPS)
		if !strings.HasPrefix(h.Path, "/") {
			l.add(p+".httpGet.path", "%q: want a path starting with '/'", h.Path)
		}
		for i, hd := range h.HTTPHeaders {
			if hd.Name == "" || strings.ContainsAny(hd.Name, " :\t\r\n") {
				l.add(fmt.Sprintf("%s.httpGet.httpHeaders[%d].name", p, i), "%q: want a header name", hd.Name)
			}
		}
	}
	if t := pr.TCPSocket; t != nil {
		handlers = append(handlers, "tcpSocket")
		validateProbePort(l, p+".tcpSocket.port", t.Port, ports)
	}
	if len(handlers) != 1 {
		has := strings.Join(handlers, ", ")
		if has == "" {
			has = "none"
		}
		l.add(p, "want exactly one of exec, httpGet or tcpSocket; has %s", has)
	}
	if pr.InitialDelaySeconds < 0 {
		l.add(p+".initialDelaySeconds", "%d: must not be negative", pr.InitialDelaySeconds)
	}
	for _, f := range []struct {
		name string
		v    int32
	}{{"periodSeconds", pr.PeriodSeconds}, {"timeoutSeconds", pr.TimeoutSeconds},
		{"successThreshold", pr.SuccessThreshold}, {"failureThreshold", pr.FailureThreshold}} {
		if f.v < 1 {
			l.add(p+"."+f.name, "%d: must be at least 1", f.v)
		}
	}
	if single && pr.SuccessThreshold > 1 {
		l.add(p+".successThreshold", "%d: must be 1 for liveness and startup probes", pr.SuccessThreshold)
	}
}

// validateProbePort checks a probe's port: a number from 1 to 65535 or the
// name of one of the container's ports.
func validateProbePort(l *errList, p string, port IntOrString, names map[string]bool) {
	if !port.IsString {
		if port.IntVal < 1 || port.IntVal > 65535 {
			l.add(p, "%d: want a port from 1 to 65535", port.IntVal)
		}
		return
	}
	if !names[port.StrVal] {
		l.add(p, "%q: no port of the container has this name", port.StrVal)
	}
}

// validateHostPorts finds host ports that two ports of the pod would both
// take (same port and protocol, overlapping host addresses), and host-network
// ports whose hostPort differs from containerPort.
func validateHostPorts(l *errList, p string, containers []ContainerSpec, hostNetwork bool) {
	type taken struct {
		path string
		ip   string
	}
	seen := make(map[string][]taken)
	for i := range containers {
		for j, port := range containers[i].Ports {
			pp := fmt.Sprintf("%s[%d].ports[%d]", p, i, j)
			if hostNetwork && port.HostPort != 0 && port.HostPort != port.ContainerPort {
				l.add(pp+".hostPort", "%d: must equal containerPort %d with hostNetwork", port.HostPort, port.ContainerPort)
			}
			if port.HostPort == 0 {
				continue
			}
			key := port.Protocol + "/" + strconv.Itoa(int(port.HostPort))
			ip := port.HostIP
			if a, err := netip.ParseAddr(ip); err == nil && a.IsUnspecified() {
				ip = ""
			}
			for _, t := range seen[key] {
				if t.ip == "" || ip == "" || t.ip == ip {
					l.add(pp+".hostPort", "%d/%s is already taken by %s", port.HostPort, port.Protocol, t.path)
					break
				}
			}
			seen[key] = append(seen[key], taken{pp, ip})
		}
	}
}
