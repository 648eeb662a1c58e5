//go:build linux

package runtime

import (
	"bytes"
	"errors"
	"strings"
	"testing"

	specs "github.com/opencontainers/runtime-spec/specs-go"
	"golang.org/x/sys/unix"
)

func TestParseMountOptions(t *testing.T) {
	o := parseMountOptions([]string{"rbind", "ro", "nosuid", "size=64k", "mode=755", "rprivate", "rw"})
	if o.flags != unix.MS_BIND|unix.MS_REC|unix.MS_NOSUID {
		t.Errorf("flags %#x", o.flags)
	}
	if o.data != "size=64k,mode=755" {
		t.Errorf("data %q", o.data)
	}
	if len(o.propagation) != 1 || o.propagation[0] != unix.MS_PRIVATE|unix.MS_REC {
		t.Errorf("propagation %v", o.propagation)
	}
}

// FuzzParseMountOptions: any option list from a spec parses without panic,
// later options win, and unknown words end up as filesystem data verbatim.
func FuzzParseMountOptions(f *testing.F) {
	for _, seed := range []string{"rbind,ro", "nosuid,noexec,nodev,ro", "mode=1777,size=65536k", "ro,rw", "rslave,,x=y,z"} {
		f.Add(seed)
	}
	f.Fuzz(func(t *testing.T, s string) {
		opts := strings.Split(s, ",")
		o := parseMountOptions(opts)
		var data []string
		for _, opt := range opts {
			if _, _, _, known := mountOption(opt); !known {
				data = append(data, opt)
			}
		}
		if o.data != strings.Join(data, ",") {
			t.Fatalf("data %q, want %q", o.data, strings.Join(data, ","))
		}
		if len(opts) > 0 {
			switch opts[len(opts)-1] {
			case "ro":
				if o.flags&unix.MS_RDONLY == 0 {
					t.Fatal("last ro lost")
				}
			case "rw":
				if o.flags&unix.MS_RDONLY != 0 {
					t.Fatal("last rw lost")
				}
			}
		}
	})
}

// FuzzReadInitError: whatever the init writes on its status pipe, the
// parent gets nil only for nothing, and a sentinel only for its kind.
func FuzzReadInitError(f *testing.F) {
	f.Add([]byte(``))
	f.Add([]byte(`{"kind":"notfound","msg":"exec \"x\""}`))
	f.Add([]byte(`{"kind":"permission","msg":"x"}`))
	f.Add([]byte(`{"msg":"mount proc: EPERM"}`))
	f.Add([]byte(`not json`))
	f.Fuzz(func(t *testing.T, data []byte) {
		err := readInitError(bytes.NewReader(data))
		if len(data) == 0 {
			if err != nil {
				t.Fatalf("empty report: %v", err)
			}
			return
		}
		if err == nil {
			t.Fatal("a report decoded as success")
		}
		if errors.Is(err, ErrExecNotFound) && !bytes.Contains(data, []byte("notfound")) {
			t.Fatalf("ErrExecNotFound from %q", data)
		}
	})
}

// FuzzValidateSysctl: a key is accepted only under a namespaced prefix.
func FuzzValidateSysctl(f *testing.F) {
	for _, seed := range []string{"net.ipv4.ip_forward", "kernel.shmmax", "vm.swappiness", "fs.mqueue.msg_max", "kernel.panic", "kernel.hostname"} {
		f.Add(seed)
	}
	f.Fuzz(func(t *testing.T, key string) {
		spec := &specs.Spec{Linux: &specs.Linux{
			Sysctl:     map[string]string{key: "1"},
			Namespaces: []specs.LinuxNamespace{{Type: specs.IPCNamespace}, {Type: specs.UTSNamespace}, {Type: specs.NetworkNamespace}},
		}}
		if validateSysctl(spec) == nil &&
			!strings.HasPrefix(key, "net.") && !strings.HasPrefix(key, "fs.mqueue.") && !strings.HasPrefix(key, "kernel.") {
			t.Fatalf("accepted host sysctl %q", key)
		}
	})
}
