package engine

import (
	"fmt"
	"net"
	"net/netip"
	"sort"
	"strconv"
	"strings"

	"kedge/api"
)

// validateNetworkConfig checks the network flags of a container: the mode,
// published ports, --dns and --add-host. cniNet tells whether the mode is
// the bridge or a user network (the ones that publish ports).
func validateNetworkConfig(cfg *api.ContainerConfig, cniNet bool) error {
	if !cniNet {
		if err := validNamespaceMode("network", cfg.NetworkMode, "none"); err != nil {
			return err
		}
		if len(cfg.Ports) > 0 || cfg.PublishAllPorts {
			return fmt.Errorf("published ports need the bridge or a user network, not --network %s (a pod publishes its ports itself): %w", cfg.NetworkMode, api.ErrInvalid)
		}
	}
	seenPorts := map[string]bool{}
	for _, p := range cfg.Ports {
		if p.HostPort < 0 || p.HostPort > 65535 || p.ContainerPort < 1 || p.ContainerPort > 65535 {
			return fmt.Errorf("port %d:%d: ports are 1-65535 (host port 0: a free one): %w", p.HostPort, p.ContainerPort, api.ErrInvalid)
		}
		if p.Protocol != "" && p.Protocol != "tcp" && p.Protocol != "udp" {
			return fmt.Errorf("port protocol %q: want tcp or udp: %w", p.Protocol, api.ErrInvalid)
		}
		if p.HostIP != "" {
			if _, err := netip.ParseAddr(p.HostIP); err != nil {
				return fmt.Errorf("port host address %q: %w", p.HostIP, api.ErrInvalid)
			}
		}
		if p.HostPort == 0 {
			continue
		}
		key := fmt.Sprintf("%s:%d/%s", p.HostIP, p.HostPort, firstNonEmpty(p.Protocol, "tcp"))
		if seenPorts[key] {
			return fmt.Errorf("host port %s published twice: %w", key, api.ErrInvalid)
		}
		seenPorts[key] = true
	}
	if cfg.NetworkMode == "host" || strings.HasPrefix(cfg.NetworkMode, "container:") || strings.HasPrefix(cfg.NetworkMode, "pod:") {
		if len(cfg.DNS)+len(cfg.DNSSearch)+len(cfg.DNSOptions)+len(cfg.ExtraHosts) > 0 {
			return fmt.Errorf("--dns, --dns-search, --dns-option and --add-host do not apply to --network %s: %w", cfg.NetworkMode, api.ErrInvalid)
		}
	}
	for _, s := range cfg.DNS {
		if _, err := netip.ParseAddr(s); err != nil {
			return fmt.Errorf("--dns %q: not an IP address: %w", s, api.ErrInvalid)
		}
	}
	for _, s := range append(append([]string{}, cfg.DNSSearch...), cfg.DNSOptions...) {
		if s == "" || strings.ContainsAny(s, " \t\n") {
			return fmt.Errorf("--dns-search/--dns-option %q: want one word: %w", s, api.ErrInvalid)
		}
	}
	for _, h := range cfg.ExtraHosts {
		if _, _, err := parseExtraHost(h); err != nil {
			return err
		}
	}
	return nil
}

// parseExtraHost splits an --add-host value, "NAME:IP" or "NAME=IP"; IP may be
// "host-gateway".
func parseExtraHost(s string) (string, string, error) {
	name, addr, ok := strings.Cut(s, "=")
	if !ok {
		name, addr, ok = strings.Cut(s, ":")
	}
	bad := func(why string) (string, string, error) {
		return "", "", fmt.Errorf("--add-host %q: %s: %w", s, why, api.ErrInvalid)
	}
	if !ok || name == "" || addr == "" {
		return bad("want NAME:IP")
	}
	if strings.ContainsAny(name, " \t\n#") || strings.ContainsRune(name, ':') {
		return bad("a host name has no spaces, # or :")
	}
	addr = strings.Trim(addr, "[]")
	if addr != "host-gateway" {
		if _, err := netip.ParseAddr(addr); err != nil {
			return bad("not an IP address (or host-gateway)")
		}
	}
	return name, addr, nil
}

// withExposedPorts adds the image's exposed ports ("80/tcp") that ports does
// not publish yet, each on a free host port (-P).
func withExposedPorts(ports []api.PortBinding, exposed map[string]struct{}) []api.PortBinding {
	out := append([]api.PortBinding(nil), ports...)
	keys := make([]string, 0, len(exposed))
	for k := range exposed {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	for _, k := range keys {
		num, proto, _ := strings.Cut(k, "/")
		proto = firstNonEmpty(strings.ToLower(proto), "tcp")
		port, err := strconv.Atoi(num)
		if err != nil || port < 1 || port > 65535 || (proto != "tcp" && proto != "udp") {
			continue
		}
		published := false
		for _, p := range ports {
			if p.ContainerPort == port && firstNonEmpty(p.Protocol, "tcp") == proto {
				published = true
			}
		}
		if !published {
			out = append(out, api.PortBinding{ContainerPort: port, Protocol: proto})
		}
	}
	return out
}

// resolveHostPorts replaces host port 0 with a free port of the host, as the
// kernel hands out ephemeral ports (Docker allocates from the same range).
func resolveHostPorts(ports []api.PortBinding) ([]api.PortBinding, error) {
	out := append([]api.PortBinding(nil), ports...)
	for i, p := range out {
		if p.HostPort != 0 {
			continue
		}
		port, err := freePort(p.HostIP, firstNonEmpty(p.Protocol, "tcp"))
		if err != nil {
			return nil, fmt.Errorf("find a free host port for %d/%s: %w", p.ContainerPort, firstNonEmpty(p.Protocol, "tcp"), err)
		}
		out[i].HostPort = port
	}
	return out, nil
}

func freePort(hostIP, proto string) (int, error) {
	addr := net.JoinHostPort(hostIP, "0")
	if proto == "udp" {
		c, err := net.ListenPacket("udp", addr)
		if err != nil {
			return 0, err
		}
		defer c.Close()
		return c.LocalAddr().(*net.UDPAddr).Port, nil
	}
	l, err := net.Listen("tcp", addr)
	if err != nil {
		return 0, err
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port, nil
}

// hostsFile renders a container's /etc/hosts: localhost, its own name and
// the --add-host lines (host-gateway is the gateway of its network).
func hostsFile(self, hostname, gateway string, extra []string) string {
	var b strings.Builder
	b.WriteString("127.0.0.1\tlocalhost\n::1\tlocalhost ip6-localhost ip6-loopback\n")
	b.WriteString(self + "\t" + hostname + "\n")
	for _, h := range extra {
		name, addr, err := parseExtraHost(h)
		if err != nil {
			continue // validated at create
		}
		if addr == "host-gateway" {
			if gateway == "" {
				continue
			}
			addr = gateway
		}
		b.WriteString(addr + "\t" + name + "\n")
	}
	return b.String()
}
