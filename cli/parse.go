package cli

// Pure parsers of the run/create flag values. Each takes the user's string
// and returns the API value or an error wrapping api.ErrInvalid that names
// the flag and says what was expected.

import (
	"bufio"
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"math/big"
	"net/netip"
	"path"
	"regexp"
	"strconv"
	"strings"
	"unicode"

	"kedge/api"
)

// volumeNameRE is Docker's rule for volume names.
var volumeNameRE = regexp.MustCompile(`^[a-zA-Z0-9][a-zA-Z0-9_.-]*$`)

// parseVolume parses -v: "name:/path[:ro|rw]" (named volume),
// "/host:/path[:ro|rw]" (bind mount) or "/path" (anonymous volume).
// Relative host paths are refused: Docker would take them as volume names,
// which surprises more than it helps.
func parseVolume(spec string) (api.Mount, error) {
	bad := func(why string) (api.Mount, error) {
		return api.Mount{}, fmt.Errorf("-v %q: %s: %w", spec, why, api.ErrInvalid)
	}
	parts := strings.Split(spec, ":")
	var m api.Mount
	switch len(parts) {
	case 1:
		m = api.Mount{Type: "volume", Target: parts[0]}
	case 2, 3:
		src := parts[0]
		m.Target = parts[1]
		switch {
		case src == "":
			return bad("empty source")
		case strings.HasPrefix(src, "/"):
			m.Type, m.Source = "bind", path.Clean(src)
		case strings.HasPrefix(src, ".") || strings.Contains(src, "/") || src == "~" || strings.HasPrefix(src, "~"):
			return bad("a host path must be absolute")
		case !volumeNameRE.MatchString(src):
			return bad("a volume name must match [a-zA-Z0-9][a-zA-Z0-9_.-]*")
		default:
			m.Type, m.Source = "volume", src
		}
		if len(parts) == 3 {
			switch parts[2] {
			case "ro":
				m.ReadOnly = true
			case "rw":
			default:
				return bad("mode must be ro or rw")
			}
		}
	default:
		return bad("want name:/path[:ro], /host:/path[:ro|rw] or /path")
	}
	if !strings.HasPrefix(m.Target, "/") {
		return bad("the container path must be absolute")
	}
	m.Target = path.Clean(m.Target)
	if m.Target == "/" {
		return bad("cannot mount over /")
	}
	return m, nil
}

// tmpfsFlags are the mount flags --tmpfs accepts besides size and mode.
var tmpfsFlags = map[string]bool{
	"noexec": true, "exec": true, "nosuid": true, "suid": true, "nodev": true, "dev": true,
	"ro": true, "rw": true,
}

// parseTmpfs parses --tmpfs "/path[:size=64m,mode=1777,noexec,...]".
func parseTmpfs(spec string) (api.Mount, error) {
	bad := func(why string) (api.Mount, error) {
		return api.Mount{}, fmt.Errorf("--tmpfs %q: %s: %w", spec, why, api.ErrInvalid)
	}
	target, opts, hasOpts := strings.Cut(spec, ":")
	if !strings.HasPrefix(target, "/") {
		return bad("the container path must be absolute")
	}
	m := api.Mount{Type: "tmpfs", Target: path.Clean(target)}
	if m.Target == "/" {
		return bad("cannot mount over /")
	}
	if !hasOpts {
		return m, nil
	}
	for _, o := range strings.Split(opts, ",") {
		k, v, hasV := strings.Cut(o, "=")
		switch {
		case k == "size" && hasV:
			n, err := api.ParseSize(v)
			if err != nil || n == 0 {
				return bad("size must be a positive size like 64m")
			}
			m.TmpfsSize = n
		case k == "mode" && hasV:
			n, err := strconv.ParseUint(v, 8, 32)
			if err != nil || n > 0o7777 {
				return bad("mode must be octal, at most 7777")
			}
			m.TmpfsMode = uint32(n)
		case (k == "uid" || k == "gid") && hasV:
			if _, err := strconv.ParseUint(v, 10, 32); err != nil {
				return bad(k + " must be a number")
			}
			m.Options = append(m.Options, o)
		case !hasV && tmpfsFlags[k]:
			if k == "ro" {
				m.ReadOnly = true
			}
			if k != "ro" && k != "rw" {
				m.Options = append(m.Options, k)
			}
		default:
			return bad(fmt.Sprintf("unknown option %q (known: size, mode, uid, gid, noexec, nosuid, nodev, ro)", o))
		}
	}
	return m, nil
}

// ulimitNames are the resource names --ulimit accepts (Docker's list).
var ulimitNames = map[string]bool{
	"as": true, "core": true, "cpu": true, "data": true, "fsize": true, "locks": true,
	"memlock": true, "msgqueue": true, "nice": true, "nofile": true, "nproc": true,
	"rss": true, "rtprio": true, "rttime": true, "sigpending": true, "stack": true,
}

// parseUlimit parses --ulimit "name=soft[:hard]"; -1 or "unlimited" is no limit.
func parseUlimit(spec string) (api.Ulimit, error) {
	bad := func(why string) (api.Ulimit, error) {
		return api.Ulimit{}, fmt.Errorf("--ulimit %q: %s: %w", spec, why, api.ErrInvalid)
	}
	name, limits, ok := strings.Cut(spec, "=")
	if !ok {
		return bad("want name=soft[:hard]")
	}
	if !ulimitNames[name] {
		return bad("unknown limit name (known: nofile, nproc, core, memlock, stack, cpu, data, fsize, as, ...)")
	}
	num := func(s string) (int64, bool) {
		if s == "unlimited" || s == "-1" {
			return -1, true
		}
		n, err := strconv.ParseInt(s, 10, 64)
		return n, err == nil && n >= 0
	}
	softS, hardS, hasHard := strings.Cut(limits, ":")
	soft, ok := num(softS)
	if !ok {
		return bad("soft limit must be a number >= 0, -1 or unlimited")
	}
	hard := soft
	if hasHard {
		if hard, ok = num(hardS); !ok {
			return bad("hard limit must be a number >= 0, -1 or unlimited")
		}
	}
	if hard != -1 && (soft == -1 || soft > hard) {
		return bad("soft limit must not exceed the hard limit")
	}
	return api.Ulimit{Name: name, Soft: soft, Hard: hard}, nil
}

// validDevicePerms says whether s is a non-empty subset of "rwm".
func validDevicePerms(s string) bool {
	if s == "" || len(s) > 3 {
		return false
	}
	seen := map[rune]bool{}
	for _, r := range s {
		if !strings.ContainsRune("rwm", r) || seen[r] {
			return false
		}
		seen[r] = true
	}
	return true
}

// parseDevice parses --device "/dev/x[:/dev/y][:rwm]".
func parseDevice(spec string) (api.Device, error) {
	bad := func(why string) (api.Device, error) {
		return api.Device{}, fmt.Errorf("--device %q: %s: %w", spec, why, api.ErrInvalid)
	}
	parts := strings.Split(spec, ":")
	d := api.Device{Permissions: "rwm"}
	switch len(parts) {
	case 1:
		d.PathOnHost = parts[0]
	case 2:
		d.PathOnHost = parts[0]
		if validDevicePerms(parts[1]) {
			d.Permissions = parts[1]
		} else {
			d.PathInContainer = parts[1]
		}
	case 3:
		d.PathOnHost, d.PathInContainer = parts[0], parts[1]
		if !validDevicePerms(parts[2]) {
			return bad("permissions must be a combination of r, w and m")
		}
		d.Permissions = parts[2]
	default:
		return bad("want /dev/host[:/dev/container[:rwm]]")
	}
	if d.PathInContainer == "" {
		d.PathInContainer = d.PathOnHost
	}
	if !strings.HasPrefix(d.PathOnHost, "/") || !strings.HasPrefix(d.PathInContainer, "/") {
		return bad("device paths must be absolute")
	}
	d.PathOnHost, d.PathInContainer = path.Clean(d.PathOnHost), path.Clean(d.PathInContainer)
	return d, nil
}

// parseEnv parses -e "K=V" or "K", which takes K from the CLI's own
// environment through lookup (and is dropped when unset, as Docker does).
// ok is false when the variable is dropped.
func parseEnv(spec string, lookup func(string) (string, bool)) (kv string, ok bool, err error) {
	k, _, hasV := strings.Cut(spec, "=")
	if k == "" {
		return "", false, fmt.Errorf("-e %q: empty variable name: %w", spec, api.ErrInvalid)
	}
	if strings.IndexFunc(k, unicode.IsSpace) >= 0 || strings.ContainsRune(k, 0) {
		return "", false, fmt.Errorf("-e %q: variable name contains white space: %w", spec, api.ErrInvalid)
	}
	if hasV {
		return spec, true, nil
	}
	if lookup == nil {
		return "", false, nil
	}
	v, set := lookup(k)
	if !set {
		return "", false, nil
	}
	return k + "=" + v, true, nil
}

// parseEnvFile parses an --env-file: one K=V or K per line, blank lines and
// lines starting with # ignored, values taken verbatim (no quote removal, as
// Docker does).
func parseEnvFile(r io.Reader, lookup func(string) (string, bool)) ([]string, error) {
	var out []string
	sc := bufio.NewScanner(r)
	sc.Buffer(make([]byte, 64<<10), 1<<20)
	for n := 1; sc.Scan(); n++ {
		line := strings.TrimLeftFunc(sc.Text(), unicode.IsSpace)
		if n == 1 {
			line = strings.TrimPrefix(line, "\uFEFF")
		}
		if line == "" || strings.HasPrefix(line, "#") {
			continue
		}
		if k, v, ok := strings.Cut(line, "="); !ok {
			line = strings.TrimRightFunc(line, unicode.IsSpace)
		} else {
			line = strings.TrimRightFunc(k, unicode.IsSpace) + "=" + v
		}
		kv, ok, err := parseEnv(line, lookup)
		if err != nil {
			return nil, fmt.Errorf("line %d: %w", n, err)
		}
		if ok {
			out = append(out, kv)
		}
	}
	if err := sc.Err(); err != nil {
		return nil, fmt.Errorf("read env file: %w", err)
	}
	return out, nil
}

// parseRestart parses --restart "no", "always", "unless-stopped" or "on-failure[:N]".
func parseRestart(s string) (api.RestartPolicy, error) {
	name, count, hasCount := strings.Cut(s, ":")
	switch name {
	case "", "no", "always", "unless-stopped":
		if hasCount {
			return api.RestartPolicy{}, fmt.Errorf("--restart %q: only on-failure takes a retry count: %w", s, api.ErrInvalid)
		}
		if name == "" {
			name = "no"
		}
		return api.RestartPolicy{Name: name}, nil
	case "on-failure":
		p := api.RestartPolicy{Name: name}
		if hasCount {
			n, err := strconv.Atoi(count)
			if err != nil || n < 0 {
				return api.RestartPolicy{}, fmt.Errorf("--restart %q: the retry count must be a number >= 0: %w", s, api.ErrInvalid)
			}
			p.MaximumRetryCount = n
		}
		return p, nil
	}
	return api.RestartPolicy{}, fmt.Errorf("--restart %q: want no, always, unless-stopped or on-failure[:N]: %w", s, api.ErrInvalid)
}

// parseCPUs parses --cpus "1.5" into nano CPUs (1500000000), exactly.
func parseCPUs(s string) (int64, error) {
	bad := fmt.Errorf("--cpus %q: want a positive decimal number of CPUs like 1.5: %w", s, api.ErrInvalid)
	if s == "" || len(s) > 32 || strings.ContainsAny(s, "/eE+") {
		return 0, bad
	}
	r, ok := new(big.Rat).SetString(s)
	if !ok || r.Sign() < 0 {
		return 0, bad
	}
	r.Mul(r, big.NewRat(1e9, 1))
	if !r.IsInt() || !r.Num().IsInt64() {
		return 0, fmt.Errorf("--cpus %q: too precise or too large: %w", s, api.ErrInvalid)
	}
	return r.Num().Int64(), nil
}

// parseKeyValue parses "k=v" for --sysctl and --label; with valueOptional a
// bare "k" means an empty value (Docker's labels).
func parseKeyValue(flag, s string, valueOptional bool) (string, string, error) {
	k, v, ok := strings.Cut(s, "=")
	if k == "" || strings.IndexFunc(k, unicode.IsSpace) >= 0 {
		return "", "", fmt.Errorf("--%s %q: want key=value with a non-empty key: %w", flag, s, api.ErrInvalid)
	}
	if !ok && !valueOptional {
		return "", "", fmt.Errorf("--%s %q: want key=value: %w", flag, s, api.ErrInvalid)
	}
	return k, v, nil
}

// parseLogOpts parses --log-opt values: "max-size=10m", "max-file=3", or
// both comma-separated.
func parseLogOpts(opts []string) (api.LogConfig, error) {
	var lc api.LogConfig
	for _, opt := range opts {
		for _, o := range strings.Split(opt, ",") {
			k, v, _ := strings.Cut(o, "=")
			switch k {
			case "max-size":
				n, err := api.ParseSize(v)
				if err != nil || n == 0 {
					return lc, fmt.Errorf("--log-opt %q: max-size must be a positive size like 10m: %w", o, api.ErrInvalid)
				}
				lc.MaxSize = n
			case "max-file":
				n, err := strconv.Atoi(v)
				if err != nil || n < 1 {
					return lc, fmt.Errorf("--log-opt %q: max-file must be a number >= 1: %w", o, api.ErrInvalid)
				}
				lc.MaxFiles = n
			default:
				return lc, fmt.Errorf("--log-opt %q: unknown option (known: max-size, max-file): %w", o, api.ErrInvalid)
			}
		}
	}
	return lc, nil
}

// parseSecurityOpt validates one --security-opt and returns what is sent to
// the agent. "seccomp=PATH" reads the profile here, on the client (the file
// is on the user's machine, not necessarily the agent's), and sends
// "seccomp=<compact JSON>", as Docker's CLI does; "seccomp=unconfined" is
// sent as is. no-new-privileges is normalised to "no-new-privileges=BOOL".
// apparmor and label are passed through (the engine accepts and ignores them).
func parseSecurityOpt(opt string, readFile func(string) ([]byte, error)) (string, error) {
	k, v, hasV := strings.Cut(opt, "=")
	if !hasV {
		k, v, hasV = strings.Cut(opt, ":") // Docker's old "no-new-privileges:true"
	}
	switch k {
	case "no-new-privileges":
		if !hasV {
			return "no-new-privileges=true", nil
		}
		b, err := strconv.ParseBool(v)
		if err != nil {
			return "", fmt.Errorf("--security-opt %q: want no-new-privileges[=true|false]: %w", opt, api.ErrInvalid)
		}
		return "no-new-privileges=" + strconv.FormatBool(b), nil
	case "seccomp":
		switch {
		case !hasV || v == "":
			return "", fmt.Errorf("--security-opt %q: want seccomp=unconfined or seccomp=PROFILE.json: %w", opt, api.ErrInvalid)
		case v == "unconfined":
			return "seccomp=unconfined", nil
		}
		if readFile == nil {
			return "", fmt.Errorf("--security-opt %q: cannot read profiles here: %w", opt, api.ErrInvalid)
		}
		b, err := readFile(v)
		if err != nil {
			return "", fmt.Errorf("--security-opt %q: read seccomp profile: %w", opt, err)
		}
		var buf bytes.Buffer
		if err := json.Compact(&buf, b); err != nil {
			return "", fmt.Errorf("--security-opt %q: seccomp profile is not JSON: %v: %w", opt, err, api.ErrInvalid)
		}
		return "seccomp=" + buf.String(), nil
	case "apparmor", "label":
		if !hasV {
			return "", fmt.Errorf("--security-opt %q: want %s=VALUE: %w", opt, k, api.ErrInvalid)
		}
		return opt, nil
	}
	return "", fmt.Errorf("--security-opt %q: unknown option (known: no-new-privileges, seccomp, apparmor, label): %w", opt, api.ErrInvalid)
}

// parseSignal checks a --stop-signal / kill -s value: a name ("TERM",
// "SIGKILL") or a number 1-64; it returns the value as given (upper-cased).
func parseSignal(s string) (string, error) {
	u := strings.ToUpper(strings.TrimSpace(s))
	if n, err := strconv.Atoi(u); err == nil {
		if n < 1 || n > 64 {
			return "", fmt.Errorf("signal %q: number out of range 1-64: %w", s, api.ErrInvalid)
		}
		return u, nil
	}
	name := strings.TrimPrefix(u, "SIG")
	if name == "" || strings.IndexFunc(name, func(r rune) bool { return (r < 'A' || r > 'Z') && (r < '0' || r > '9') && r != '+' && r != '-' }) >= 0 {
		return "", fmt.Errorf("signal %q: want a name like TERM or a number: %w", s, api.ErrInvalid)
	}
	return u, nil
}

// parsePublish parses -p "[ip:][hostPort:]containerPort[/tcp|udp]" (also
// "ip::containerPort", and "[v6addr]:host:container" for IPv6 hosts); a
// missing host port is 0, which the agent replaces with a free one.
func parsePublish(spec string) (api.PortBinding, error) {
	bad := func(why string) (api.PortBinding, error) {
		return api.PortBinding{}, fmt.Errorf("-p %q: %s: %w", spec, why, api.ErrInvalid)
	}
	rest, proto, hasProto := strings.Cut(spec, "/")
	if hasProto {
		proto = strings.ToLower(proto)
		if proto != "tcp" && proto != "udp" {
			return bad("the protocol is tcp or udp")
		}
	} else {
		proto = "tcp"
	}
	var ip string
	if strings.HasPrefix(rest, "[") {
		end := strings.Index(rest, "]:")
		if end < 0 {
			return bad("an IPv6 host address goes in brackets: [addr]:host:container")
		}
		ip, rest = rest[1:end], rest[end+2:]
	}
	parts := strings.Split(rest, ":")
	switch len(parts) {
	case 1: // "80": a free host port
		parts = []string{"", parts[0]}
	case 2:
	case 3:
		if ip != "" {
			return bad("want [ip:][hostPort]:containerPort")
		}
		ip, parts = parts[0], parts[1:]
		if ip == "" {
			return bad("an empty host address")
		}
	default:
		return bad("want [ip:][hostPort:]containerPort[/proto]")
	}
	if ip != "" {
		if _, err := netip.ParseAddr(ip); err != nil {
			return bad("bad host address")
		}
	}
	host := 0 // 0: the agent picks a free port, as Docker does
	var err1 error
	if parts[0] != "" || len(strings.Split(rest, ":")) == 2 && ip == "" {
		host, err1 = strconv.Atoi(parts[0])
	}
	cont, err2 := strconv.Atoi(parts[1])
	if err1 != nil || err2 != nil || host < 0 || host > 65535 || (host == 0 && parts[0] != "") || cont < 1 || cont > 65535 {
		return bad("ports are numbers from 1 to 65535")
	}
	return api.PortBinding{HostIP: ip, HostPort: host, ContainerPort: cont, Protocol: proto}, nil
}
