package api

// Real-world manifests, as people write them for Kubernetes.

const nginxDeployment = `# The classic.
apiVersion: apps/v1
kind: Deployment
metadata:
  name: nginx
  namespace: web
  labels:
    app: nginx
  annotations:
    kedge.io/disconnect-replace: "true"
    kedge.io/lost-after: 5m
    deployment.kubernetes.io/revision: "3"
spec:
  replicas: 3
  selector:
    matchLabels:
      app: nginx
  strategy:
    type: RollingUpdate
    rollingUpdate:
      maxSurge: 1
      maxUnavailable: 0
  template:
    metadata:
      labels:
        app: nginx
        tier: frontend
    spec:
      containers:
      - name: nginx
        image: nginx:1.27
        ports:
        - name: http
          containerPort: 80
        resources:
          requests:
            cpu: 100m
            memory: 128Mi
          limits:
            cpu: "1"
            memory: 256Mi
        readinessProbe:
          httpGet:
            path: /healthz
            port: http
          initialDelaySeconds: 5
        livenessProbe:
          tcpSocket:
            port: 80
          periodSeconds: 20
        volumeMounts:
        - name: conf
          mountPath: /etc/nginx/conf.d
          readOnly: true
      volumes:
      - name: conf
        configMap:
          name: nginx-conf
`

const agentDaemonSet = `apiVersion: apps/v1
kind: DaemonSet
metadata:
  name: node-exporter
  namespace: monitoring
spec:
  selector:
    matchLabels:
      app: node-exporter
    matchExpressions:
    - {key: tier, operator: In, values: [infra, edge]}
  updateStrategy:
    type: RollingUpdate
    rollingUpdate:
      maxUnavailable: 25%
  template:
    metadata:
      labels:
        app: node-exporter
        tier: infra
    spec:
      hostNetwork: true
      nodeSelector:
        kubernetes.io/os: linux
      tolerations:
      - operator: Exists
      - key: node-role.kubernetes.io/control-plane
        operator: Exists
        effect: NoSchedule
      - key: dedicated
        operator: Equal
        value: edge
        effect: NoExecute
        tolerationSeconds: 300
      containers:
      - name: node-exporter
        image: quay.io/prometheus/node-exporter:v1.8.1
        args: ["--path.rootfs=/host"]
        ports:
        - containerPort: 9100
          name: metrics
        securityContext:
          readOnlyRootFilesystem: true
          runAsNonRoot: true
          runAsUser: 65534
          allowPrivilegeEscalation: false
          capabilities:
            drop: [ALL]
            add: [SYS_TIME]
        volumeMounts:
        - {name: root, mountPath: /host, readOnly: true}
      volumes:
      - name: root
        hostPath:
          path: /
          type: Directory
`

const initPod = `apiVersion: v1
kind: Pod
metadata:
  name: app
  labels: {app: demo}
spec:
  restartPolicy: OnFailure
  terminationGracePeriodSeconds: 10
  securityContext:
    fsGroup: 2000
  initContainers:
  - name: migrate
    image: registry.local:5000/app/migrate@sha256:0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef
    command: ["/bin/migrate", "--wait"]
    envFrom:
    - secretRef:
        name: db-credentials
  containers:
  - name: app
    image: registry.local:5000/app/server
    workingDir: /srv
    command: ["/srv/server"]
    args: ["--port", "8080"]
    stdin: true
    tty: true
    env:
    - name: MODE
      value: production
    - name: LOG_LEVEL
      valueFrom:
        configMapKeyRef:
          name: app-config
          key: log.level
    - name: DB_PASSWORD
      valueFrom:
        secretKeyRef:
          name: db-credentials
          key: password
          optional: false
    - name: POD_NAME
      valueFrom:
        fieldRef:
          fieldPath: metadata.name
    - name: ZONE
      valueFrom:
        fieldRef:
          fieldPath: metadata.labels['topology.kubernetes.io/zone']
    envFrom:
    - configMapRef:
        name: app-config
      prefix: APP_
    ports:
    - containerPort: 8080
      hostPort: 18080
      protocol: TCP
    - containerPort: 5353
      protocol: UDP
      hostPort: 5353
      hostIP: 127.0.0.1
    resources:
      limits:
        cpu: 1.5
        memory: 1Gi
    startupProbe:
      exec:
        command: [cat, /tmp/started]
      failureThreshold: 30
      periodSeconds: 2
    livenessProbe:
      httpGet:
        path: /live
        port: 8080
        scheme: HTTPS
        httpHeaders:
        - {name: X-Probe, value: kedge}
    volumeMounts:
    - name: scratch
      mountPath: /tmp
    - name: cache
      mountPath: /var/cache/app
    - name: config
      mountPath: /etc/app/app.yaml
      subPath: app.yaml
    - name: tls
      mountPath: /etc/tls
      readOnly: true
  - name: sidecar
    image: busybox
    command: [sh, -c, "tail -f /dev/null"]
  volumes:
  - name: scratch
    emptyDir: {}
  - name: cache
    emptyDir:
      medium: Memory
      sizeLimit: 64Mi
  - name: config
    configMap:
      name: app-config
      items:
      - key: app.yaml
        path: app.yaml
        mode: 0400
  - name: tls
    secret:
      secretName: app-tls
      defaultMode: 0440
`

const configObjects = `---
apiVersion: v1
kind: Namespace
metadata:
  name: web
---
# nothing here
---
apiVersion: v1
kind: ResourceQuota
metadata:
  name: compute
  namespace: web
spec:
  hard:
    requests.cpu: "4"
    requests.memory: 8Gi
    limits.cpu: "8"
    limits.memory: 16Gi
    pods: "20"
    count/deployments.apps: 5
---
apiVersion: v1
kind: ConfigMap
metadata:
  name: app-config
  namespace: web
data:
  log.level: debug
  app.yaml: |
    listen: :8080
binaryData:
  logo.png: iVBORw0KGgo=
---
apiVersion: v1
kind: Secret
metadata:
  name: db-credentials
  namespace: web
type: Opaque
data:
  username: YWRtaW4=
  password: c2VjcmV0
stringData:
  password: s3cr3t
  host: db.local
---
apiVersion: v1
kind: Secret
metadata:
  name: app-tls
  namespace: web
type: kubernetes.io/tls
data:
  tls.crt: Y2VydA==
  tls.key: a2V5
...
`
