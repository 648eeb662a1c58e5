package probe

import (
	"errors"
	"testing"
	"time"

	"kedge/api"
)

func TestSettingsDefaults(t *testing.T) {
	got := settingsFor(Readiness, &api.Probe{})
	want := settings{period: 10 * time.Second, timeout: time.Second, success: 1, failure: 3}
	if got != want {
		t.Fatalf("defaults %+v, want %+v", got, want)
	}
	p := &api.Probe{InitialDelaySeconds: 5, PeriodSeconds: 2, TimeoutSeconds: 3, SuccessThreshold: 4, FailureThreshold: 6}
	if got := settingsFor(Readiness, p); got != (settings{5 * time.Second, 2 * time.Second, 3 * time.Second, 4, 6}) {
		t.Fatalf("readiness %+v", got)
	}
	for _, k := range []Kind{Startup, Liveness} {
		if got := settingsFor(k, p); got.success != 1 {
			t.Fatalf("%s success threshold %d, want 1", k, got.success)
		}
	}
}

func TestValidate(t *testing.T) {
	ports := []api.ContainerPort{{Name: "http", ContainerPort: 8080}, {Name: "dns", ContainerPort: 53, Protocol: api.ProtocolUDP}}
	get := func(port api.IntOrString) *api.Probe {
		return &api.Probe{HTTPGet: &api.HTTPGetAction{Port: port}}
	}
	for _, tc := range []struct {
		name string
		kind Kind
		p    *api.Probe
		want error
	}{
		{"nil", Liveness, nil, nil},
		{"named port", Liveness, get(api.FromString("http")), nil},
		{"numeric string", Liveness, get(api.FromString("9090")), nil},
		{"udp port", Liveness, get(api.FromString("dns")), ErrPortNotFound},
		{"unknown port", Liveness, get(api.FromString("metrics")), ErrPortNotFound},
		{"port zero", Liveness, get(api.FromInt(0)), ErrInvalidProbe},
		{"port too big", Liveness, &api.Probe{TCPSocket: &api.TCPSocketAction{Port: api.FromInt(70000)}}, ErrInvalidProbe},
		{"no action", Liveness, &api.Probe{}, ErrInvalidProbe},
		{"two actions", Liveness, &api.Probe{Exec: &api.ExecAction{Command: []string{"x"}}, TCPSocket: &api.TCPSocketAction{Port: api.FromInt(1)}}, ErrInvalidProbe},
		{"empty command", Liveness, &api.Probe{Exec: &api.ExecAction{}}, ErrInvalidProbe},
		{"negative", Readiness, execProbe("x", period(-1)), ErrInvalidProbe},
		{"liveness success 2", Liveness, execProbe("x", successes(2)), ErrInvalidProbe},
		{"startup success 2", Startup, execProbe("x", successes(2)), ErrInvalidProbe},
		{"readiness success 2", Readiness, execProbe("x", successes(2)), nil},
		{"bad scheme", Readiness, &api.Probe{HTTPGet: &api.HTTPGetAction{Port: api.FromInt(80), Scheme: "FTP"}}, ErrInvalidProbe},
		{"header without name", Readiness, httpProbe("/", api.FromInt(80), api.HTTPHeader{Value: "v"}), ErrInvalidProbe},
	} {
		t.Run(tc.name, func(t *testing.T) {
			err := Validate(tc.kind, tc.p, ports)
			if tc.want == nil && err != nil || tc.want != nil && !errors.Is(err, tc.want) {
				t.Fatalf("got %v, want %v", err, tc.want)
			}
		})
	}
}
