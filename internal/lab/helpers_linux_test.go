//go:build linux

package lab

// The test binary doubles as the processes the tests put in the hosts: a
// fake agent ("agent ..."), a fake supervisor ("__shim JSON") and small
// network helpers ("__labhelper ..."), so no kedge build is needed.

import (
	"bufio"
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"os/signal"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"
)

func TestMain(m *testing.M) {
	if len(os.Args) > 1 {
		switch os.Args[1] {
		case "agent":
			os.Exit(fakeAgent(os.Args[2:]))
		case shimCommand:
			select {} // a supervisor that supervises nothing, until killed
		case "__labhelper":
			os.Exit(helper(os.Args[2:]))
		}
	}
	os.Exit(m.Run())
}

// fakeAgent serves GET /v1/version on --socket after starting one fake
// supervisor, and exits on SIGTERM.
func fakeAgent(args []string) int {
	fs := flag.NewFlagSet("agent", flag.ContinueOnError)
	conf := fs.String("config", "", "")
	dataDir := fs.String("data-dir", "", "")
	socket := fs.String("socket", "", "")
	fs.String("extra", "", "")
	if err := fs.Parse(args); err != nil {
		return 2
	}
	fmt.Println("fake agent: args", strings.Join(args, " "))
	b, err := os.ReadFile(*conf)
	if err != nil {
		fmt.Println("fake agent:", err)
		return 1
	}
	fmt.Printf("fake agent: config %q\n", b)
	opts, _ := json.Marshal(map[string]string{"BundleDir": filepath.Join(*dataDir, "containers", "c1")})
	self, _ := os.Executable()
	shim := exec.Command(self, shimCommand, string(opts))
	shim.SysProcAttr = &syscall.SysProcAttr{Setsid: true}
	if err := shim.Start(); err != nil {
		fmt.Println("fake agent: start supervisor:", err)
		return 1
	}
	_ = shim.Process.Release() // it outlives us, as a real supervisor does
	os.Remove(*socket)
	ln, err := net.Listen("unix", *socket)
	if err != nil {
		fmt.Println("fake agent:", err)
		return 1
	}
	term := make(chan os.Signal, 1)
	signal.Notify(term, syscall.SIGTERM)
	go func() {
		<-term
		fmt.Println("fake agent: terminated")
		os.Exit(0)
	}()
	mux := http.NewServeMux()
	mux.HandleFunc("GET /v1/version", func(w http.ResponseWriter, _ *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		_, _ = io.WriteString(w, "{}")
	})
	fmt.Println("fake agent: serving")
	fmt.Println("fake agent:", http.Serve(ln, mux))
	return 1
}

// helper: "dial ADDR" connects and prints what the server says, "netns"
// prints the process's network namespace, "sleep" waits to be killed.
func helper(args []string) int {
	switch {
	case len(args) == 2 && args[0] == "dial":
		c, err := net.DialTimeout("tcp", args[1], 2*time.Second)
		if err != nil {
			fmt.Println(err)
			return 1
		}
		defer c.Close()
		line, err := bufio.NewReader(c).ReadString('\n')
		fmt.Print(line)
		if err != nil {
			fmt.Println(err)
			return 1
		}
		return 0
	case len(args) == 1 && args[0] == "netns":
		ns, err := os.Readlink("/proc/self/ns/net")
		if err != nil {
			fmt.Println(err)
			return 1
		}
		fmt.Println(ns)
		return 0
	case len(args) == 1 && args[0] == "sleep":
		fmt.Println("sleeping")
		select {}
	}
	fmt.Println("usage: __labhelper dial ADDR | netns | sleep")
	return 2
}
