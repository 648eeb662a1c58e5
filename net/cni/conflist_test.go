package cni

import (
	"errors"
	"strings"
	"testing"

	"github.com/containernetworking/cni/libcni"
)

const bridgeConfList = `{"cniVersion":"1.0.0","name":"lab","plugins":[
	{"type":"bridge","bridge":"cni-lab","isGateway":true,"ipam":{"type":"host-local","ranges":[[{"subnet":"10.22.0.0/24"}],[{"subnet":"10.23.0.0/24"}]],"dataDir":"/tmp/x"}},
	{"type":"portmap","capabilities":{"portMappings":true}}]}`

func TestParseConfList(t *testing.T) {
	cl, err := ParseConfList([]byte(bridgeConfList))
	if err != nil {
		t.Fatal(err)
	}
	if cl.Name != "lab" || cl.CNIVersion != "1.0.0" || strings.Join(cl.Plugins, ",") != "bridge,portmap" || !cl.PortMappings {
		t.Fatalf("parsed %+v", cl)
	}
	if strings.Join(cl.Subnets, ",") != "10.22.0.0/24,10.23.0.0/24" {
		t.Fatalf("subnets %v", cl.Subnets)
	}
	// A single plugin's .conf becomes a one-plugin list.
	one, err := ParseConfList([]byte(`{"cniVersion":"0.4.0","name":"single","type":"ptp","ipam":{"type":"host-local","subnet":"10.9.0.0/16"}}`))
	if err != nil {
		t.Fatal(err)
	}
	if one.Name != "single" || len(one.Plugins) != 1 || one.Plugins[0] != "ptp" || one.PortMappings || one.Subnets[0] != "10.9.0.0/16" {
		t.Fatalf("single conf parsed %+v", one)
	}
	if _, err := libcni.NetworkConfFromBytes(one.Bytes); err != nil {
		t.Fatalf("wrapped conf is no conflist: %v", err)
	}
	for name, bad := range map[string]string{
		"not json":         `{"cniVersion":`,
		"array":            `[]`,
		"no plugins":       `{"cniVersion":"1.0.0","name":"x"}`,
		"empty plugins":    `{"cniVersion":"1.0.0","name":"x","plugins":[]}`,
		"plugins not list": `{"cniVersion":"1.0.0","name":"x","plugins":{}}`,
		"no type":          `{"cniVersion":"1.0.0","name":"x","plugins":[{"bridge":"b"}]}`,
		"path as type":     `{"cniVersion":"1.0.0","name":"x","plugins":[{"type":"../../bin/sh"}]}`,
		"no name":          `{"cniVersion":"1.0.0","plugins":[{"type":"bridge"}]}`,
		"bad name":         `{"cniVersion":"1.0.0","name":"a/b","plugins":[{"type":"bridge"}]}`,
		"no version":       `{"name":"x","plugins":[{"type":"bridge"}]}`,
		"future version":   `{"cniVersion":"9.0.0","name":"x","plugins":[{"type":"bridge"}]}`,
		"junk version":     `{"cniVersion":"one","name":"x","plugins":[{"type":"bridge"}]}`,
		"bad disableCheck": `{"cniVersion":"1.0.0","name":"x","disableCheck":"maybe","plugins":[{"type":"bridge"}]}`,
		"too big":          `{"name":"` + strings.Repeat("a", MaxConfListSize) + `"}`,
	} {
		if _, err := ParseConfList([]byte(bad)); !errors.Is(err, ErrInvalidConfig) {
			t.Errorf("%s: %v, want ErrInvalidConfig", name, err)
		}
	}
}

// FuzzParseConfList: any input either fails with ErrInvalidConfig or gives
// a list libcni can drive, with named plugins whose types are plain names.
func FuzzParseConfList(f *testing.F) {
	f.Add([]byte(bridgeConfList))
	f.Add([]byte(`{"cniVersion":"0.4.0","name":"single","type":"ptp","ipam":{"type":"host-local","subnet":"10.9.0.0/16"}}`))
	f.Add([]byte(`{"cniVersion":"1.1.0","cniVersions":["1.0.0","1.1.0"],"name":"n","disableGC":true,"plugins":[{"type":"kedge-cni"}]}`))
	f.Add([]byte(`{"cniVersion":"1.0.0","name":"x","plugins":[{"type":"bridge","ipam":{"ranges":[[{"subnet":"fd00::/64"}]]}}]}`))
	f.Add([]byte(`null`))
	f.Fuzz(func(t *testing.T, data []byte) {
		cl, err := ParseConfList(data)
		if err != nil {
			if !errors.Is(err, ErrInvalidConfig) {
				t.Fatalf("error without ErrInvalidConfig: %v", err)
			}
			return
		}
		if !validConfListName.MatchString(cl.Name) || cl.CNIVersion == "" || len(cl.Plugins) == 0 || len(cl.Plugins) != len(cl.list.Plugins) {
			t.Fatalf("accepted an unusable conflist: %+v", cl)
		}
		for _, p := range cl.Plugins {
			if strings.ContainsAny(p, "/\x00") || p == "." || p == ".." {
				t.Fatalf("accepted plugin type %q", p)
			}
		}
		if _, err := ParseConfList(cl.Bytes); err != nil {
			t.Fatalf("the accepted bytes do not parse again: %v", err)
		}
	})
}
