package api

import (
	"errors"
	"strings"
	"testing"
)

// pod is a valid Pod manifest with extra lines spliced into its container
// ("C"), its spec ("S") or its metadata ("M").
func pod(meta, spec, container string) string {
	return "apiVersion: v1\nkind: Pod\nmetadata:\n  name: p\n" + meta +
		"spec:\n" + spec + "  containers:\n  - name: c\n    image: busybox\n" + container
}

// deployment is a valid Deployment manifest with lines spliced into its
// spec and its template's container.
func deployment(spec, container string) string {
	return `apiVersion: apps/v1
kind: Deployment
metadata:
  name: web
spec:
  selector:
    matchLabels: {app: web}
` + spec + `  template:
    metadata:
      labels: {app: web}
    spec:
      containers:
      - name: web
        image: nginx
` + container
}

func TestDecodeErrors(t *testing.T) {
	for _, tc := range []struct {
		name string
		src  string
		// want are substrings of the error, one per reported error.
		want []string
	}{
		{"unknown top-level field", pod("", "", "") + "spek: {}\n",
			[]string{`document 1 of bad.yaml (line 1), Pod p: spek: unknown field (did you mean "spec"?)`}},
		{"unknown metadata field", pod("  generateName: p-\n", "", ""),
			[]string{"Pod p: metadata.generateName: field not supported by Kedge"}},
		{"unknown pod spec field", pod("", "  serviceAccountName: sa\n", ""),
			[]string{"spec.serviceAccountName: field not supported by Kedge"}},
		{"unknown deep field", deployment("", "        livenessProbe:\n          grpc: {port: 9000}\n"),
			[]string{"Deployment web: spec.template.spec.containers[0].livenessProbe.grpc: field not supported by Kedge"}},
		{"unsupported volume", pod("", "  volumes:\n  - name: data\n    persistentVolumeClaim: {claimName: data}\n", ""),
			[]string{"spec.volumes[0].persistentVolumeClaim: field not supported by Kedge"}},
		{"affinity", deployment("", "") + "      affinity: {}\n",
			[]string{"spec.template.spec.affinity: field not supported by Kedge"}},
		{"typo with case", pod("", "", "    ports:\n    - ContainerPort: 80\n"),
			[]string{`spec.containers[0].ports[0].ContainerPort: unknown field (did you mean "containerPort"?)`}},
		{"wrong type", deployment("  replicas: three\n", ""),
			[]string{`spec.replicas: want a whole number (32-bit), got string "three"`}},
		{"number for a string", pod("", "", "    env:\n    - {name: A, value: 1}\n"),
			[]string{"spec.containers[0].env[0].value: want a string, got number 1 (quote it)"}},
		{"yes for a string", pod("  labels: {enabled: yes}\n", "", ""),
			[]string{"metadata.labels[enabled]: want a string, got boolean true (quote it)"}},
		{"bad base64", "apiVersion: v1\nkind: Secret\nmetadata: {name: s}\ndata: {k: '!!'}\n",
			[]string{"Secret s: data[k]: invalid base64"}},
		{"bad quantity", pod("", "", "    resources:\n      limits: {memory: 12 gigs}\n"),
			[]string{`spec.containers[0].resources.limits[memory]: quantity "12 gigs": want a number with an optional suffix`}},
		{"negative quantity", pod("", "", "    resources:\n      requests: {cpu: -1}\n"),
			[]string{`resources.requests[cpu]: quantity "-1": must not be negative`}},
		{"unsupported kind", "apiVersion: v1\nkind: ConfigMap\nmetadata: {name: a}\n---\n---\napiVersion: v1\nkind: Pod\nmetadata: {name: p}\nspec: {containers: [{name: c, image: i}]}\n---\n# svc\napiVersion: v1\nkind: Service\nmetadata: {name: s}\n",
			[]string{"document 3 of bad.yaml (line 12): kind Service is not supported yet"}},
		{"wrong apiVersion", strings.Replace(deployment("", ""), "apps/v1", "apps/v1beta1", 1),
			[]string{"document 1 of bad.yaml (line 1), Deployment web: apiVersion apps/v1beta1 for Deployment: want apps/v1"}},
		{"core kind with apps version", "apiVersion: apps/v1\nkind: Pod\nmetadata: {name: p}\n",
			[]string{"apiVersion apps/v1 for Pod: want v1"}},
		{"missing apiVersion", "kind: Pod\nmetadata: {name: p}\n", []string{"apiVersion is required (v1 for Pod)"}},
		{"missing kind", "apiVersion: v1\nmetadata: {name: p}\n", []string{"kind is required"}},
		{"not a mapping", "- a\n- b\n", []string{"want an object with apiVersion, kind, metadata and spec, got a list"}},
		{"bad YAML", "apiVersion: v1\nkind: Namespace\nmetadata: {name: ns}\n---\napiVersion: v1\nkind: [Pod\n", []string{"document 2 of bad.yaml (line 5): invalid YAML: line 6: did not find expected"}},
		{"duplicate key", "apiVersion: v1\nkind: ConfigMap\nmetadata: {name: a}\ndata:\n  k: 1\n  k: 2\n",
			[]string{`invalid YAML: unmarshal errors: line 6: key "k" already set in map`}},
		{"missing name", pod("", "", "")[:0] + "apiVersion: v1\nkind: ConfigMap\nmetadata: {namespace: x}\n",
			[]string{"ConfigMap: metadata.name: required"}},
		{"bad name", strings.Replace(pod("", "", ""), "name: p", "name: My_Pod", 1),
			[]string{`metadata.name: "My_Pod" must be a DNS label`}},
		{"selector not matching", strings.Replace(deployment("", ""), "labels: {app: web}", "labels: {app: api}", 1),
			[]string{"Deployment default/web: spec.selector: does not match the template's labels"}},
		{"duplicate container name", pod("", "", "  - name: c\n    image: other\n"),
			[]string{`spec.containers[1].name: "c": duplicate container name`}},
		{"no containers", "apiVersion: v1\nkind: Pod\nmetadata: {name: p}\nspec: {containers: []}\n",
			[]string{"spec.containers: at least one container is required"}},
		{"two errors together", deployment("  replicas: -1\n", "        ports: [{containerPort: 70000}]\n"),
			[]string{"spec.replicas: -1: must not be negative", "spec.template.spec.containers[0].ports[0].containerPort: 70000: want a port from 1 to 65535"}},
		{"errors of two documents", "apiVersion: v1\nkind: Pod\nmetadata: {name: a}\nspec: {containers: [{name: c}]}\n---\n" + pod("", "", "    livenessProbe: {}\n"),
			[]string{"document 1 of bad.yaml (line 1), Pod default/a: spec.containers[0].image: required",
				"document 2 of bad.yaml (line 6), Pod default/p: spec.containers[0].livenessProbe: want exactly one of exec, httpGet or tcpSocket; has none"}},
		{"restart policy in a controller", deployment("", "") + "      restartPolicy: OnFailure\n",
			[]string{`spec.template.spec.restartPolicy: "OnFailure": a controller's pods must have restartPolicy Always`}},
		{"host port conflict", pod("", "", "    ports: [{containerPort: 80, hostPort: 8080}]\n  - name: d\n    image: i\n    ports: [{containerPort: 81, hostPort: 8080, hostIP: 10.0.0.1}]\n"),
			[]string{"spec.containers[1].ports[0].hostPort: 8080/TCP is already taken by spec.containers[0].ports[0]"}},
		{"mount of no volume", pod("", "", "    volumeMounts: [{name: data, mountPath: /data}]\n"),
			[]string{`spec.containers[0].volumeMounts[0].name: "data": no volume of the pod has this name`}},
		{"limits below requests", pod("", "", "    resources: {requests: {memory: 1Gi}, limits: {memory: 512Mi}}\n"),
			[]string{"spec.containers[0].resources.requests[memory]: 1Gi is more than the limit 512Mi"}},
		{"probe with two handlers", pod("", "", "    readinessProbe: {exec: {command: [x]}, httpGet: {port: 80}}\n"),
			[]string{"readinessProbe: want exactly one of exec, httpGet or tcpSocket; has exec, httpGet"}},
		{"bad env name", pod("", "", "    env: [{name: 1ABC, value: x}]\n"),
			[]string{`spec.containers[0].env[0].name: "1ABC": want letters`}},
		{"kedge annotation typo", pod("  annotations: {kedge.io/lost-afterr: 5m}\n", "", ""),
			[]string{`metadata.annotations[kedge.io/lost-afterr]: unknown Kedge annotation (did you mean "kedge.io/lost-after"?`}},
		{"kedge annotation value", strings.Replace(deployment("", ""), "      labels: {app: web}\n", "      labels: {app: web}\n      annotations: {kedge.io/stop-after: 10}\n", 1),
			[]string{`spec.template.metadata.annotations[kedge.io/stop-after]: want a string, got number 10 (quote it)`}},
		{"kedge annotation duration", pod("  annotations: {kedge.io/stop-after: forever}\n", "", ""),
			[]string{`metadata.annotations[kedge.io/stop-after]: want a positive duration like "90s" or "5m", got "forever"`}},
		{"same object twice", pod("", "", "") + "---\n" + pod("", "", ""),
			[]string{"document 2 of bad.yaml (line 10), Pod default/p: the same object as document 1"}},
		{"quota resource", "apiVersion: v1\nkind: ResourceQuota\nmetadata: {name: q}\nspec: {hard: {services: 3, pods: 1.5}}\n",
			[]string{"spec.hard[pods]: 1500m: a count must be a whole number", "spec.hard[services]: quota resource not supported by Kedge"}},
		{"tls secret without key", "apiVersion: v1\nkind: Secret\nmetadata: {name: s}\ntype: kubernetes.io/tls\nstringData: {tls.crt: x}\n",
			[]string{"data[tls.key]: required by type kubernetes.io/tls"}},
		{"recreate with rolling update", deployment("  strategy: {type: Recreate, rollingUpdate: {maxSurge: 1}}\n", ""),
			[]string{"spec.strategy.rollingUpdate: only with strategy type RollingUpdate"}},
		{"maxUnavailable over 100%", deployment("  strategy: {rollingUpdate: {maxUnavailable: 120%}}\n", ""),
			[]string{`spec.strategy.rollingUpdate.maxUnavailable: "120%": must be at most 100%`}},
		{"daemonset without selector", "apiVersion: apps/v1\nkind: DaemonSet\nmetadata: {name: d}\nspec:\n  template:\n    metadata: {labels: {a: b}}\n    spec: {containers: [{name: c, image: i}]}\n",
			[]string{"DaemonSet default/d: spec.selector: required"}},
		{"toleration", pod("", "  tolerations: [{key: k, operator: Exists, value: v, tolerationSeconds: 5}]\n", ""),
			[]string{"spec.tolerations[0].value: must be empty with operator Exists", "spec.tolerations[0].tolerationSeconds: only with effect NoExecute"}},
		{"dns policy None without config", pod("", "  dnsPolicy: None\n", ""),
			[]string{"spec.dnsConfig: required with dnsPolicy None"}},
		{"dns config", pod("", "  dnsConfig: {nameservers: [1.1.1.1, dns.local], searches: [a..b], options: [{value: '2'}]}\n", ""),
			[]string{`spec.dnsConfig.nameservers[1]: "dns.local": want an IP address`, `spec.dnsConfig.searches[0]: "a..b" must be a DNS subdomain`,
				"spec.dnsConfig.options[0].name: required"}},
		{"host aliases", pod("", "  hostAliases: [{ip: 10.0.0.300, hostnames: [db]}, {ip: '::1'}]\n", ""),
			[]string{`spec.hostAliases[0].ip: "10.0.0.300": want an IP address`, "spec.hostAliases[1].hostnames: at least one host name is required"}},
		{"selector expressions", strings.Replace(deployment("", ""), "matchLabels: {app: web}",
			"matchLabels: {app: web}\n    matchExpressions: [{key: tier, operator: In}, {key: x, operator: Exists, values: [a]}, {key: z, operator: Near}]", 1),
			[]string{"spec.selector.matchExpressions[0].values: required with operator In",
				"spec.selector.matchExpressions[1].values: must be empty with operator Exists",
				`spec.selector.matchExpressions[2].operator: "Near": want In, NotIn, Exists or DoesNotExist`,
				"spec.selector: does not match the template's labels"}},
		{"volumes", pod("", "  volumes:\n  - {name: a, hostPath: {path: /x, type: Dir}}\n  - {name: b, configMap: {items: [{key: k, path: ../etc, mode: 0o1000}]}}\n  - {name: c, secret: {secretName: s, defaultMode: -1}}\n  - {name: D_1, emptyDir: {medium: Disk}}\n", ""),
			[]string{`spec.volumes[0].hostPath.type: "Dir": want DirectoryOrCreate`, "spec.volumes[1].configMap.name: required",
				`spec.volumes[1].configMap.items[0].path: "../etc": want a relative path without '..'`,
				"spec.volumes[1].configMap.items[0].mode: 512: want a file mode from 0 to 0777",
				"spec.volumes[2].secret.defaultMode: -1: want a file mode from 0 to 0777",
				`spec.volumes[3].name: "D_1" must be a DNS label`, `spec.volumes[3].emptyDir.medium: "Disk": want "" (disk) or Memory`}},
		{"env sources", pod("", "", "    env:\n    - {name: A, value: x, valueFrom: {fieldRef: {fieldPath: spec.serviceAccountName}}}\n    - {name: B, valueFrom: {configMapKeyRef: {name: c, key: 'a/b'}, secretKeyRef: {name: s, key: k}}}\n    envFrom: [{configMapRef: {name: c}, secretRef: {name: s}}, {prefix: 9X}]\n"),
			[]string{"spec.containers[0].env[0]: has both value and valueFrom",
				`spec.containers[0].env[0].valueFrom.fieldRef.fieldPath: "spec.serviceAccountName": want metadata.name`,
				`spec.containers[0].env[1].valueFrom.configMapKeyRef.key: "a/b" must be`,
				"spec.containers[0].env[1].valueFrom: want exactly one of configMapKeyRef, secretKeyRef or fieldRef; has configMapKeyRef, secretKeyRef",
				"spec.containers[0].envFrom[0]: want exactly one of configMapRef or secretRef; has both",
				`spec.containers[0].envFrom[1].prefix: "9X": want letters`,
				"spec.containers[0].envFrom[1]: want exactly one of configMapRef or secretRef; has none"}},
		{"init container probe", pod("", "  initContainers: [{name: i, image: i, readinessProbe: {exec: {command: [x]}}}]\n", ""),
			[]string{"spec.initContainers[0].readinessProbe: init containers cannot have probes"}},
		{"host network port", pod("", "  hostNetwork: true\n", "    ports: [{containerPort: 80, hostPort: 8080}]\n"),
			[]string{"spec.containers[0].ports[0].hostPort: 8080: must equal containerPort 80 with hostNetwork"}},
		{"security", pod("", "  securityContext: {runAsUser: 0, runAsNonRoot: true}\n", "    securityContext: {privileged: true, allowPrivilegeEscalation: false, runAsUser: -1, capabilities: {add: [net_admin]}}\n"),
			[]string{"spec.securityContext.runAsNonRoot: contradicts runAsUser 0",
				"spec.containers[0].securityContext.runAsUser: -1: must not be negative",
				"spec.containers[0].securityContext.allowPrivilegeEscalation: cannot be false when privileged",
				`spec.containers[0].securityContext.capabilities.add[0]: "net_admin": want a capability name like NET_ADMIN`}},
		{"probe fields", pod("", "", "    ports: [{name: http, containerPort: 80}, {name: http, containerPort: 81}]\n    livenessProbe: {httpGet: {port: 0, path: live, scheme: FTP}, successThreshold: 2, periodSeconds: -1}\n"),
			[]string{`spec.containers[0].ports[1].name: "http": duplicate port name`,
				"spec.containers[0].livenessProbe.httpGet.port: 0: want a port from 1 to 65535",
				`spec.containers[0].livenessProbe.httpGet.scheme: "FTP": want HTTP or HTTPS`,
				`spec.containers[0].livenessProbe.httpGet.path: "live": want a path starting with '/'`,
				"spec.containers[0].livenessProbe.periodSeconds: -1: must be at least 1",
				"spec.containers[0].livenessProbe.successThreshold: 2: must be 1 for liveness and startup probes"}},
		{"namespace in a namespace", "apiVersion: v1\nkind: Namespace\nmetadata: {name: a, namespace: b, labels: {x: 'has space'}}\n",
			[]string{"metadata.namespace: must be empty: a Namespace is not in a namespace", `metadata.labels[x]: value "has space" must be empty or`}},
		{"types", "apiVersion: v1\nkind: Pod\nmetadata: {name: p, creationTimestamp: yesterday, resourceVersion: abc, labels: [a]}\nspec: 5\n",
			[]string{`metadata.creationTimestamp: want a time like "2024-05-01T12:00:00Z", got string "yesterday"`,
				`metadata.labels: want an object, got a list`,
				`metadata.resourceVersion: want a whole number (not negative), got string "abc"`,
				"spec: want an object, got number 5"}},
		{"daemonset strategy", strings.Replace(strings.Replace(deployment("  updateStrategy: {type: OnDelete, rollingUpdate: {maxSurge: 1}}\n", ""), "Deployment", "DaemonSet", 1), "  replicas", "  x", 1),
			[]string{"spec.updateStrategy.rollingUpdate: only with update strategy type RollingUpdate"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			objs, err := DecodeManifests([]byte(tc.src), "bad.yaml")
			if err == nil {
				t.Fatalf("decoded %d objects, want an error", len(objs))
			}
			if objs != nil {
				t.Errorf("objects returned with an error")
			}
			if !errors.Is(err, ErrInvalid) {
				t.Errorf("error does not wrap ErrInvalid: %v", err)
			}
			var me *ManifestError
			if !errors.As(err, &me) || me.Source != "bad.yaml" {
				t.Errorf("error is not a *ManifestError: %v", err)
			}
			got := splitJoined(err)
			if len(got) != len(tc.want) {
				t.Errorf("%d errors, want %d:\n%v", len(got), len(tc.want), err)
			}
			for _, want := range tc.want {
				if !strings.Contains(err.Error(), want) {
					t.Errorf("error lacks %q:\n%v", want, err)
				}
			}
		})
	}
}

func TestDecodeErrorsAreBounded(t *testing.T) {
	var b strings.Builder
	for range 300 {
		b.WriteString("apiVersion: v1\nkind: Service\n---\n")
	}
	_, err := DecodeManifests([]byte(b.String()), "many.yaml")
	if n := len(splitJoined(err)); n != maxManifestErrors+1 || !strings.Contains(err.Error(), "too many errors") {
		t.Errorf("%d errors, want %d and a note", n, maxManifestErrors+1)
	}
}
