package api

import (
	"bytes"
	"strings"
	"testing"
)

// tenDocuments is a 10-document manifest file of real-world objects.
func tenDocuments() string {
	return strings.Join([]string{
		nginxDeployment,
		strings.ReplaceAll(nginxDeployment, "name: nginx\n", "name: nginx-canary\n"),
		agentDaemonSet,
		initPod,
		strings.ReplaceAll(initPod, "name: app\n", "name: app-2\n"),
		configObjects,
	}, "---\n")
}

func FuzzDecodeManifests(f *testing.F) {
	for _, seed := range []string{
		nginxDeployment, agentDaemonSet, initPod, configObjects, tenDocuments(),
		"", "---\n---\n", "apiVersion: v1\nkind: Service\n", "- a\n", "a: [\n",
		pod("", "", "    livenessProbe: {grpc: {port: 1}}\n"),
		deployment("  strategy: {rollingUpdate: {maxSurge: 50%, maxUnavailable: 0}}\n", "        resources: {limits: {cpu: 1e3m}}\n"),
		`{"apiVersion":"v1","kind":"Secret","metadata":{"name":"s"},"data":{"k":"dg=="}}`,
	} {
		f.Add([]byte(seed))
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		objs, err := DecodeManifests(data, "fuzz.yaml")
		if err != nil {
			if objs != nil {
				t.Fatal("objects returned with an error")
			}
			return
		}
		for _, o := range objs {
			if err := o.Validate(); err != nil {
				t.Fatalf("decoded object does not validate: %v", err)
			}
		}
		// Whatever decodes, encodes and decodes back to the same bytes.
		first, err := EncodeManifests(objs)
		if err != nil {
			t.Fatalf("encode: %v", err)
		}
		again, err := DecodeManifests(first, "again.yaml")
		if err != nil {
			t.Fatalf("re-decode of\n%s\n: %v", first, err)
		}
		second, err := EncodeManifests(again)
		if err != nil {
			t.Fatalf("re-encode: %v", err)
		}
		if !bytes.Equal(first, second) {
			t.Fatalf("encoding not stable:\n%s\n---\n%s", first, second)
		}
	})
}

func BenchmarkDecodeManifests10(b *testing.B) {
	data := []byte(tenDocuments())
	if objs, err := DecodeManifests(data, "bench.yaml"); err != nil || len(objs) != 10 {
		b.Fatalf("%d objects, %v", len(objs), err)
	}
	b.SetBytes(int64(len(data)))
	b.ReportAllocs()
	for b.Loop() {
		if _, err := DecodeManifests(data, "bench.yaml"); err != nil {
			b.Fatal(err)
		}
	}
}
