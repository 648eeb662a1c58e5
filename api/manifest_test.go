package api

import (
	"errors"
	"reflect"
	"strings"
	"testing"
	"time"
)

// decode decodes src and wants exactly n objects.
func decode(t *testing.T, src string, n int) []Object {
	t.Helper()
	objs, err := DecodeManifests([]byte(src), "test.yaml")
	if err != nil {
		t.Fatalf("DecodeManifests: %v", err)
	}
	if len(objs) != n {
		t.Fatalf("DecodeManifests: %d objects, want %d", len(objs), n)
	}
	return objs
}

func TestDecodeNginxDeployment(t *testing.T) {
	d := decode(t, nginxDeployment, 1)[0].(*Deployment)
	if d.Kind != KindDeployment || d.APIVersion != APIVersionApps || d.Name != "nginx" || d.Namespace != "web" {
		t.Fatalf("meta: %+v %+v", d.TypeMeta, d.ObjectMeta)
	}
	s := d.Spec
	if *s.Replicas != 3 || *s.RevisionHistoryLimit != 10 || s.Strategy.Type != StrategyRollingUpdate {
		t.Errorf("spec: replicas %d, history %d, strategy %q", *s.Replicas, *s.RevisionHistoryLimit, s.Strategy.Type)
	}
	if ru := s.Strategy.RollingUpdate; *ru.MaxSurge != FromInt(1) || *ru.MaxUnavailable != FromInt(0) {
		t.Errorf("rolling update %v %v", ru.MaxSurge, ru.MaxUnavailable)
	}
	if !s.Selector.Matches(s.Template.Labels) || s.Template.Spec.RestartPolicy != RestartAlways {
		t.Error("selector or restart policy")
	}
	c := s.Template.Spec.Containers[0]
	if c.Image != "nginx:1.27" || c.ImagePullPolicy != PullIfNotPresent || c.Ports[0].Protocol != ProtocolTCP {
		t.Errorf("container %+v", c)
	}
	if c.Resources.Requests.CPU().MilliValue() != 100 || c.Resources.Limits.Memory().Value() != 256<<20 {
		t.Errorf("resources %v", c.Resources)
	}
	if p := c.ReadinessProbe; p.HTTPGet.Port != FromString("http") || p.PeriodSeconds != 10 || p.TimeoutSeconds != 1 ||
		p.FailureThreshold != 3 || p.SuccessThreshold != 1 || p.InitialDelaySeconds != 5 || p.HTTPGet.Scheme != SchemeHTTP {
		t.Errorf("readiness probe %+v", p)
	}
	if p := c.LivenessProbe; p.TCPSocket.Port != FromInt(80) || p.PeriodSeconds != 20 {
		t.Errorf("liveness probe %+v", p)
	}
	if v := s.Template.Spec.Volumes[0]; v.ConfigMap.Name != "nginx-conf" || *v.ConfigMap.DefaultMode != 0o644 {
		t.Errorf("volume %+v", v)
	}
	settings, err := ParseKedgeAnnotations(d.Annotations)
	if err != nil || settings.DisconnectReplace == nil || !*settings.DisconnectReplace || settings.LostAfter != 5*time.Minute || settings.StopAfter != 0 {
		t.Errorf("kedge settings %+v, %v", settings, err)
	}
}

func TestDecodeDaemonSet(t *testing.T) {
	ds := decode(t, agentDaemonSet, 1)[0].(*DaemonSet)
	spec := ds.Spec.Template.Spec
	if !spec.HostNetwork || spec.NodeSelector["kubernetes.io/os"] != "linux" || len(spec.Tolerations) != 3 {
		t.Fatalf("pod spec %+v", spec)
	}
	if tol := spec.Tolerations[2]; tol.Key != "dedicated" || tol.Effect != TaintNoExecute || *tol.TolerationSeconds != 300 {
		t.Errorf("toleration %+v", tol)
	}
	if p := spec.Containers[0].Ports[0]; p.HostPort != 9100 {
		t.Errorf("hostNetwork port %+v: want hostPort = containerPort", p)
	}
	sc := spec.Containers[0].SecurityContext
	if !*sc.ReadOnlyRootFilesystem || *sc.RunAsUser != 65534 || *sc.AllowPrivilegeEscalation || sc.Capabilities.Drop[0] != "ALL" {
		t.Errorf("security context %+v", sc)
	}
	us := ds.Spec.UpdateStrategy
	if us.Type != StrategyRollingUpdate || *us.RollingUpdate.MaxUnavailable != FromString("25%") || *us.RollingUpdate.MaxSurge != FromInt(0) {
		t.Errorf("update strategy %+v", us)
	}
	if ds.Spec.Selector.Matches(map[string]string{"app": "node-exporter", "tier": "cloud"}) {
		t.Error("matchExpressions ignored")
	}
	if spec.Volumes[0].HostPath.Type != HostPathDirectory {
		t.Errorf("host path %+v", spec.Volumes[0].HostPath)
	}
}

func TestDecodePodWithInitContainers(t *testing.T) {
	p := decode(t, initPod, 1)[0].(*ClusterPod)
	if p.Namespace != DefaultNamespace || p.Spec.RestartPolicy != RestartOnFailure || *p.Spec.TerminationGracePeriodSeconds != 10 {
		t.Fatalf("pod %+v", p.ObjectMeta)
	}
	if ic := p.Spec.InitContainers[0]; ic.ImagePullPolicy != PullIfNotPresent || ic.EnvFrom[0].SecretRef.Name != "db-credentials" {
		t.Errorf("init container %+v", ic)
	}
	c := p.Spec.Containers[0]
	if c.ImagePullPolicy != PullAlways || !c.Stdin || !c.TTY || c.WorkingDir != "/srv" || c.Args[1] != "8080" {
		t.Errorf("container %+v", c)
	}
	env := c.Env
	if env[0].Value != "production" || env[1].ValueFrom.ConfigMapKeyRef.Key != "log.level" ||
		env[2].ValueFrom.SecretKeyRef.Name != "db-credentials" || *env[2].ValueFrom.SecretKeyRef.Optional ||
		env[3].ValueFrom.FieldRef.FieldPath != "metadata.name" || env[3].ValueFrom.FieldRef.APIVersion != "v1" {
		t.Errorf("env %+v", env)
	}
	if c.EnvFrom[0].Prefix != "APP_" || c.EnvFrom[0].ConfigMapRef.Name != "app-config" {
		t.Errorf("envFrom %+v", c.EnvFrom)
	}
	// Only limits given: requests default to them.
	if r := c.Resources; r.Requests.CPU().MilliValue() != 1500 || r.Requests.Memory().Value() != 1<<30 {
		t.Errorf("resources %+v", r)
	}
	if pr := c.StartupProbe; pr.Exec.Command[1] != "/tmp/started" || pr.FailureThreshold != 30 || pr.PeriodSeconds != 2 {
		t.Errorf("startup probe %+v", pr)
	}
	if pr := c.LivenessProbe; pr.HTTPGet.Scheme != SchemeHTTPS || pr.HTTPGet.HTTPHeaders[0].Value != "kedge" {
		t.Errorf("liveness probe %+v", pr)
	}
	if pt := c.Ports[1]; pt.Protocol != ProtocolUDP || pt.HostIP != "127.0.0.1" || pt.HostPort != 5353 {
		t.Errorf("port %+v", pt)
	}
	vols := p.Spec.Volumes
	if vols[0].EmptyDir == nil || vols[1].EmptyDir.Medium != "Memory" || vols[1].EmptyDir.SizeLimit.Value() != 64<<20 {
		t.Errorf("emptyDir volumes %+v %+v", vols[0], vols[1])
	}
	if it := vols[2].ConfigMap.Items[0]; it.Key != "app.yaml" || *it.Mode != 0o400 {
		t.Errorf("configMap items %+v (YAML 0400 is octal)", it)
	}
	if vols[3].Secret.SecretName != "app-tls" || *vols[3].Secret.DefaultMode != 0o440 {
		t.Errorf("secret volume %+v", vols[3].Secret)
	}
	if *p.Spec.SecurityContext.FSGroup != 2000 {
		t.Errorf("pod security context %+v", p.Spec.SecurityContext)
	}
}

func TestDecodeConfigObjects(t *testing.T) {
	objs := decode(t, configObjects, 5)
	ns := objs[0].(*Namespace)
	if ns.Name != "web" || ns.Namespace != "" {
		t.Errorf("namespace %+v", ns.ObjectMeta)
	}
	q := objs[1].(*ResourceQuota)
	if q.Spec.Hard[QuotaRequestsCPU].MilliValue() != 4000 || q.Spec.Hard[QuotaLimitsMemory].Value() != 16<<30 ||
		q.Spec.Hard[QuotaPods].Value() != 20 || q.Spec.Hard[QuotaDeployments].Value() != 5 {
		t.Errorf("quota %v", q.Spec.Hard)
	}
	cm := objs[2].(*ConfigMap)
	if cm.Data["log.level"] != "debug" || cm.Data["app.yaml"] != "listen: :8080\n" || string(cm.BinaryData["logo.png"][1:4]) != "PNG" {
		t.Errorf("configmap %+v", cm)
	}
	s := objs[3].(*Secret)
	if s.Type != SecretTypeOpaque || string(s.Data["username"]) != "admin" || s.StringData != nil {
		t.Errorf("secret %+v", s)
	}
	// stringData is merged into data, and wins over it.
	if string(s.Data["password"]) != "s3cr3t" || string(s.Data["host"]) != "db.local" {
		t.Errorf("secret data %q", s.Data)
	}
	if tls := objs[4].(*Secret); tls.Type != SecretTypeTLS || string(tls.Data["tls.key"]) != "key" {
		t.Errorf("tls secret %+v", tls)
	}
}

// A manifest as `kubectl create deployment --dry-run=client -o yaml` writes it.
func TestDecodeKubectlOutput(t *testing.T) {
	const src = `apiVersion: apps/v1
kind: Deployment
metadata:
  creationTimestamp: null
  labels:
    app: web
  name: web
spec:
  replicas: 1
  selector:
    matchLabels:
      app: web
  strategy: {}
  template:
    metadata:
      creationTimestamp: null
      labels:
        app: web
    spec:
      containers:
      - image: nginx
        name: nginx
        resources: {}
status: {}
`
	d := decode(t, src, 1)[0].(*Deployment)
	if !d.CreationTimestamp.IsZero() || *d.Spec.Strategy.RollingUpdate.MaxSurge != FromString("25%") {
		t.Errorf("decoded %+v", d)
	}
}

func TestDecodeJSONManifest(t *testing.T) {
	const src = `{"apiVersion":"v1","kind":"ConfigMap","metadata":{"name":"c","resourceVersion":"42",
	"creationTimestamp":"2024-05-01T12:00:00Z","generation":3},"data":{"k":"v"}}`
	cm := decode(t, src, 1)[0].(*ConfigMap)
	if cm.ResourceVersion != 42 || cm.Generation != 3 || cm.CreationTimestamp.Year() != 2024 || cm.Data["k"] != "v" {
		t.Errorf("decoded %+v", cm)
	}
}

func TestDecodeEmptyInput(t *testing.T) {
	for _, src := range []string{"", "\n\n", "# just a comment\n---\n---\n# another\n", "\xef\xbb\xbf---\n"} {
		objs, err := DecodeManifests([]byte(src), "empty.yaml")
		if err != nil || len(objs) != 0 {
			t.Errorf("%q: %v, %v", src, objs, err)
		}
	}
}

func TestRoundTrip(t *testing.T) {
	all := nginxDeployment + "---\n" + agentDaemonSet + "---\n" + initPod + "---\n" + configObjects
	objs := decode(t, all, 8)
	// Status and system metadata survive too.
	pod := objs[2].(*ClusterPod)
	pod.UID, pod.ResourceVersion, pod.Generation = "9b2f", 1<<40, 2
	pod.CreationTimestamp = time.Date(2024, 5, 1, 12, 0, 0, 500, time.UTC)
	pod.Status = PodStatus{Phase: PodRunning, NodeName: "edge-1", PodIP: "10.42.0.7", StartTime: pod.CreationTimestamp,
		Conditions: []PodCondition{{Type: PodReady, Status: ConditionTrue, LastTransitionTime: pod.CreationTimestamp}},
		ContainerStatuses: []ContainerStatus{{Name: "app", Ready: true, RestartCount: 2, Image: "x",
			State:     PodContainerState{Running: &ContainerStateRunning{StartedAt: pod.CreationTimestamp}},
			LastState: PodContainerState{Terminated: &ContainerStateTerminated{ExitCode: 137, Reason: "OOMKilled"}}}}}
	objs[0].(*Deployment).Status = DeploymentStatus{ObservedGeneration: 4, Replicas: 3, ReadyReplicas: 2}

	first, err := EncodeManifests(objs)
	if err != nil {
		t.Fatal(err)
	}
	again := decode(t, string(first), 8)
	if !reflect.DeepEqual(objs, again) {
		for i := range objs {
			if !reflect.DeepEqual(objs[i], again[i]) {
				t.Errorf("object %d changed in a round trip:\n%+v\n%+v", i, objs[i], again[i])
			}
		}
	}
	second, err := EncodeManifests(again)
	if err != nil {
		t.Fatal(err)
	}
	if string(first) != string(second) {
		t.Errorf("encoding is not stable:\n%s\n----\n%s", first, second)
	}
	if !strings.Contains(string(first), `resourceVersion: "1099511627776"`) {
		t.Error("resourceVersion is not written as a string, as Kubernetes does")
	}
}

func TestEncodeFillsTypeMeta(t *testing.T) {
	out, err := EncodeManifest(&ConfigMap{ObjectMeta: ObjectMeta{Name: "c"}})
	if err != nil {
		t.Fatal(err)
	}
	if want := "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: c\n"; string(out) != want {
		t.Errorf("got\n%s\nwant\n%s", out, want)
	}
}

func TestValidateObjectsBuiltInGo(t *testing.T) {
	d := &Deployment{
		ObjectMeta: ObjectMeta{Name: "api"},
		Spec: DeploymentSpec{
			Selector: &LabelSelector{MatchLabels: map[string]string{"app": "api"}},
			Template: PodTemplateSpec{
				ObjectMeta: ObjectMeta{Labels: map[string]string{"app": "api"}},
				Spec:       PodSpec{Containers: []ContainerSpec{{Name: "api", Image: "api:1"}}},
			},
		},
	}
	d.Default()
	if err := d.Validate(); err != nil {
		t.Fatalf("valid deployment: %v", err)
	}
	d.Spec.Template.Spec.Containers = append(d.Spec.Template.Spec.Containers, ContainerSpec{Name: "api"})
	err := d.Validate()
	var fe *FieldError
	if !errors.Is(err, ErrInvalid) || !errors.As(err, &fe) || len(splitJoined(err)) != 3 {
		t.Fatalf("want 3 field errors (duplicate name, no image, bad pull policy), got %v", err)
	}
}

func TestParseKedgeAnnotationsErrors(t *testing.T) {
	_, err := ParseKedgeAnnotations(map[string]string{
		"kedge.io/disconnect-replace": "yes",
		"kedge.io/stopafter":          "1m",
		"example.com/free":            "anything",
	})
	msg := err.Error()
	for _, want := range []string{`kedge.io/disconnect-replace: want "true" or "false", got "yes"`,
		`kedge.io/stopafter: unknown Kedge annotation (did you mean "kedge.io/stop-after"?`} {
		if !strings.Contains(msg, want) {
			t.Errorf("error %q lacks %q", msg, want)
		}
	}
	if strings.Contains(msg, "example.com") {
		t.Errorf("other annotations are free: %q", msg)
	}
}
