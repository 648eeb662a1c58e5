package probe

import (
	"fmt"
	"strconv"
	"strings"
	"time"

	"kedge/api"
)

// Kind is the role of a probe.
type Kind int

// The kinds of probes, in the order they gate each other.
const (
	Startup Kind = iota
	Liveness
	Readiness
	numKinds
)

func (k Kind) String() string {
	switch k {
	case Startup:
		return "startup"
	case Liveness:
		return "liveness"
	case Readiness:
		return "readiness"
	}
	return "Kind(" + strconv.Itoa(int(k)) + ")"
}

// Defaults for the zero fields of an api.Probe.
const (
	DefaultPeriod           = 10 * time.Second
	DefaultTimeout          = time.Second
	DefaultSuccessThreshold = 1
	DefaultFailureThreshold = 3
)

// settings are a probe's timing and thresholds, defaults applied.
type settings struct {
	initialDelay time.Duration
	period       time.Duration
	timeout      time.Duration
	success      int
	failure      int
}

// settingsFor applies the defaults to p. Zero or negative fields take their
// default (Validate rejects negative ones); liveness and startup probes
// always need one success.
func settingsFor(k Kind, p *api.Probe) settings {
	s := settings{
		period:  DefaultPeriod,
		timeout: DefaultTimeout,
		success: DefaultSuccessThreshold,
		failure: DefaultFailureThreshold,
	}
	if p.InitialDelaySeconds > 0 {
		s.initialDelay = seconds(p.InitialDelaySeconds)
	}
	if p.PeriodSeconds > 0 {
		s.period = seconds(p.PeriodSeconds)
	}
	if p.TimeoutSeconds > 0 {
		s.timeout = seconds(p.TimeoutSeconds)
	}
	if p.SuccessThreshold > 0 && k == Readiness {
		s.success = int(p.SuccessThreshold)
	}
	if p.FailureThreshold > 0 {
		s.failure = int(p.FailureThreshold)
	}
	return s
}

func seconds(n int32) time.Duration { return time.Duration(n) * time.Second }

// Validate reports why probe p of kind k on a container with the given ports
// cannot run as written, wrapping ErrInvalidProbe or ErrPortNotFound. A nil
// probe is valid. The Manager runs invalid probes anyway: their checks fail.
func Validate(k Kind, p *api.Probe, ports []api.ContainerPort) error {
	if p == nil {
		return nil
	}
	invalid := func(format string, args ...any) error {
		return fmt.Errorf("%s probe: %s: %w", k, fmt.Sprintf(format, args...), ErrInvalidProbe)
	}
	actions := 0
	for _, set := range []bool{p.Exec != nil, p.HTTPGet != nil, p.TCPSocket != nil} {
		if set {
			actions++
		}
	}
	if actions != 1 {
		return invalid("needs exactly one of exec, httpGet or tcpSocket, has %d", actions)
	}
	for _, f := range []struct {
		name string
		v    int32
	}{
		{"initialDelaySeconds", p.InitialDelaySeconds}, {"periodSeconds", p.PeriodSeconds},
		{"timeoutSeconds", p.TimeoutSeconds}, {"successThreshold", p.SuccessThreshold},
		{"failureThreshold", p.FailureThreshold},
	} {
		if f.v < 0 {
			return invalid("%s is negative (%d)", f.name, f.v)
		}
	}
	if k != Readiness && p.SuccessThreshold > 1 {
		return invalid("successThreshold must be 1, not %d", p.SuccessThreshold)
	}
	switch {
	case p.Exec != nil:
		if len(p.Exec.Command) == 0 {
			return invalid("exec has no command")
		}
	case p.HTTPGet != nil:
		if _, err := scheme(p.HTTPGet.Scheme); err != nil {
			return fmt.Errorf("%s probe: %w", k, err)
		}
		for _, h := range p.HTTPGet.HTTPHeaders {
			if h.Name == "" {
				return invalid("httpGet has a header without a name")
			}
		}
		if _, err := resolvePort(p.HTTPGet.Port, ports); err != nil {
			return fmt.Errorf("%s probe: %w", k, err)
		}
	case p.TCPSocket != nil:
		if _, err := resolvePort(p.TCPSocket.Port, ports); err != nil {
			return fmt.Errorf("%s probe: %w", k, err)
		}
	}
	return nil
}

// resolvePort turns a probe's port, a number or the name of one of the
// container's TCP ports, into a port number. Like the kubelet, it accepts a
// number written as a string when no port has that name.
func resolvePort(port api.IntOrString, ports []api.ContainerPort) (int, error) {
	if !port.IsString {
		if port.IntVal < 1 || port.IntVal > 65535 {
			return 0, fmt.Errorf("port %d out of range: %w", port.IntVal, ErrInvalidProbe)
		}
		return int(port.IntVal), nil
	}
	if port.StrVal == "" {
		return 0, fmt.Errorf("empty port: %w", ErrInvalidProbe)
	}
	for _, p := range ports {
		if p.Name == port.StrVal && (p.Protocol == "" || strings.EqualFold(p.Protocol, api.ProtocolTCP)) {
			if p.ContainerPort < 1 || p.ContainerPort > 65535 {
				return 0, fmt.Errorf("port %q is %d, out of range: %w", p.Name, p.ContainerPort, ErrInvalidProbe)
			}
			return int(p.ContainerPort), nil
		}
	}
	if n, err := strconv.Atoi(port.StrVal); err == nil {
		return resolvePort(api.FromInt(int32(min(max(n, 0), 1<<16))), nil)
	}
	return 0, fmt.Errorf("port %q: %w", port.StrVal, ErrPortNotFound)
}

// scheme maps an HTTPGetAction's scheme to a URL scheme.
func scheme(s string) (string, error) {
	switch {
	case s == "" || strings.EqualFold(s, api.SchemeHTTP):
		return "http", nil
	case strings.EqualFold(s, api.SchemeHTTPS):
		return "https", nil
	}
	return "", fmt.Errorf("scheme %q is neither HTTP nor HTTPS: %w", s, ErrInvalidProbe)
}
